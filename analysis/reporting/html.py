"""The self-contained HTML report: results rendered with Jinja2, the figures
(analysis.reporting.figures) inlined as PNG."""
from __future__ import annotations

import base64
from datetime import datetime, timezone
from pathlib import Path

import jinja2

from analysis.inputs.load import SimulatedShare
from analysis.reporting import sentences
from analysis.reporting.analyse import StudyResults
from analysis.stats.results import Skipped
from camstudy import __version__ as camstudy_version

TEMPLATES = Path(__file__).parent / "templates"


def skipped_parts(study: StudyResults) -> list[tuple[str, Skipped]]:
    out = []
    for q in study.questions:
        for name in ("proportion", "participant", "pairs", "model", "position", "agreement",
                     "reliability", "objective", "area", "classes", "order", "times"):
            part = getattr(q, name)
            if isinstance(part, Skipped):
                out.append((q.question, part))
    return out


def render_html(study: StudyResults, pngs: dict[str, bytes], reasons: dict[str, str],
                simulated: SimulatedShare | None = None) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.get_template("report.html")
    return template.render(
        study=study, version=camstudy_version,
        simulated=simulated if simulated and simulated.simulated else None,
        generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        figures={k: base64.b64encode(v).decode("ascii") for k, v in pngs.items()},
        figure_reasons=reasons, skipped_parts=skipped_parts(study),
        skipped=lambda x: isinstance(x, Skipped),
        question=lambda name: next(q for q in study.questions if q.question == name),
        decision_sentence=sentences.decision_sentence, decision_line=sentences.decision_line,
        estimand_line=sentences.estimand_line, equivalence_line=sentences.equivalence_line,
        methods_paragraph=sentences.methods_paragraph, tie_line=sentences.tie_line,
        participants_line=sentences.participants_line, fmt_p=sentences.fmt_p,
        pct=sentences.pct, count=sentences.count, interval_pct=sentences.interval_pct,
    )

"""The study directory's researcher-facing files: manifest.json, pairs.csv, gallery.html."""
from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path

from generator.rendering.contrast import method_contrast
from generator.rendering.storage import write_if_changed

PAIR_COLUMNS = ["pair_id", "image_id", "class_index", "class_name", "logit", "probability",
                "is_attention_check", "expected_larger", "expected_focused", "original_file"]
SIDE_COLUMNS = ["method", "file", "sha256", "area_above_half", "entropy", "centroid_x", "centroid_y", "spread"]


def write_manifest(path: Path, manifest: dict) -> None:
    """Write the manifest; an unchanged study keeps its old file byte for byte."""
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            old = None
        if isinstance(old, dict) and _without_run_facts(old) == _without_run_facts(manifest):
            return
    write_if_changed(path, (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode())


def _without_run_facts(manifest: dict) -> dict:
    """The manifest minus what differs between two runs of the same config (time, counts of files)."""
    summary = {k: v for k, v in manifest.get("summary", {}).items()
               if k not in ("seconds", "files_written", "files_unchanged")}
    return {**manifest, "created_at": None, "summary": summary}


def pair_rows(manifest: dict) -> list[dict]:
    rows = []
    for p in manifest["pairs"]:
        expected = p.get("expected") or {}
        row = {"pair_id": p["pair_id"], "image_id": p["image_id"], "class_index": p["class_index"],
               "class_name": p["class_name"], "logit": p["logit"], "probability": p["probability"],
               "is_attention_check": str(p["is_attention_check"]).lower(),
               "expected_larger": expected.get("larger", ""), "expected_focused": expected.get("focused", ""),
               "original_file": (p.get("original") or {}).get("file", "")}
        for side in ("A", "B"):
            s = p["sides"][side]
            m = s["metrics"]
            values = [s["method"] or "", s["file"], s["sha256"], m["area_above_half"], m["entropy"],
                      m["centroid"][0], m["centroid"][1], m["spread"]]
            row.update({f"{side.lower()}_{c}": v for c, v in zip(SIDE_COLUMNS, values)})
        rows.append(row)
    return rows


def write_pairs_csv(path: Path, manifest: dict) -> None:
    columns = PAIR_COLUMNS + [f"{s}_{c}" for s in ("a", "b") for c in SIDE_COLUMNS]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(pair_rows(manifest))
    write_if_changed(path, buf.getvalue().encode())


GALLERY_CSS = """
body{font:14px system-ui,sans-serif;margin:24px;background:#fafafa;color:#222}
h1{font-size:20px} .note{color:#a40;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:16px}
.card{background:#fff;border:1px solid #ddd;border-radius:8px;padding:10px}
.card.catch{border-color:#c80}
.row{display:flex;gap:8px} figure{margin:0;text-align:center;flex:1}
figure img{width:100%;image-rendering:auto;border-radius:4px}
figcaption{font-size:12px;color:#555} .m{font-weight:600;color:#000}
table{border-collapse:collapse;font-size:12px;margin-bottom:16px} td,th{padding:2px 8px;border-bottom:1px solid #eee}
"""


def _src(side: dict) -> str:
    return html.escape(side.get("url") or side["file"])


def _figure(label: str, side: dict | None, caption: str) -> str:
    if side is None:
        return ""
    return (f'<figure><img src="{_src(side)}" alt="{html.escape(label)}" loading="lazy">'
            f"<figcaption>{caption}</figcaption></figure>")


def _card(p: dict) -> str:
    figs = [_figure("original", p.get("original"), "original")]
    for side in ("A", "B"):
        s = p["sides"][side]
        m = s["metrics"]
        who = s["method"] or ("broad" if (p.get("expected") or {}).get("larger") == side else "focal")
        figs.append(_figure(side, s, f'Image {side}: <span class="m">{html.escape(who)}</span><br>'
                                     f'area>0.5 {m["area_above_half"]:.3f} · entropy {m["entropy"]:.2f}'))
    score = "" if p["logit"] is None else f' · logit {p["logit"]:.2f} · p {p["probability"]:.3f}'
    flag = ' · <span class="note">attention check</span>' if p["is_attention_check"] else ""
    return (f'<div class="card{" catch" if p["is_attention_check"] else ""}" id="{html.escape(p["pair_id"])}">'
            f'<div><b>{html.escape(p["class_name"])}</b> · image {html.escape(p["image_id"])}{score}{flag}'
            f' · <code>{html.escape(p["pair_id"])}</code></div><div class="row">{"".join(figs)}</div></div>')


def write_gallery(path: Path, manifest: dict) -> None:
    """A static contact sheet for the researcher to review every pair (method names shown)."""
    s = manifest["summary"]
    model = manifest["model"]
    facts = [("study", manifest["study_id"]), ("model", f'{model["arch"]} ({model["head"]} head), layer '
              f'{manifest["target_layer"]}'), ("pairs", f'{s["pairs"]} + {s["attention_checks"]} attention checks'),
             ("render", ", ".join(f"{k} {v}" for k, v in manifest["render"].items())),
             ("skipped images", str(len(s["skipped_images"])))]
    contrast = method_contrast(manifest)
    if contrast is not None:  # how different the two methods look across the study (docs/generator.md)
        facts.append(("method contrast", contrast.text()))
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts)
    cards = "".join(_card(p) for p in manifest["pairs"])
    tables = [n for n in ("evaluation.md", "evaluation.json", "evaluation.csv") if (path.parent / n).is_file()]
    links = ("<p>Objective evaluation (faithfulness, localization, shape): " + " · ".join(
        f'<a href="{n}">{n}</a>' for n in tables) + "</p>") if tables else ""
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(manifest["study_id"])}'
            f" gallery</title><style>{GALLERY_CSS}</style></head><body><h1>Stimulus gallery: "
            f'{html.escape(manifest["study_id"])}</h1><p class="note">For the researcher only: this page names the '
            f"method behind every image. Never serve it to participants.</p><table>{table}</table>{links}"
            f'<div class="grid">{cards}</div></body></html>\n')
    write_if_changed(path, page.encode())

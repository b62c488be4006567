"""Statistics for camstudy: reads the responses export and writes the report.

The folders follow the analysis' own flow:

- ``analysis.inputs``: reading the export (or the survey database's export view), the
  manifest, the pre-registration record, and the pre-registered exclusions;
- ``analysis.stats``: the statistics, each a function of the analysed frame, and the
  power search;
- ``analysis.reporting``: the pipeline that runs every statistic (``analyse``) and the
  report it writes (HTML, figures, sentences, results.json, CSV tables);
- ``analysis.synthetic``: synthetic exports for demos, power planning and the tests;
- ``analysis.cli``: the subcommands (`camstudy report`, `power`, `simulate` without --url);
  ``analysis.settings``: the [analysis] section of study.toml; ``analysis.errors``.

Kept free of imports on purpose: the public names below load lazily, so `camstudy
report` and `python analysis/report.py` load pandas, scipy and statsmodels only when
they run, and `import analysis` stays cheap for the other packages' tooling.
"""
from __future__ import annotations

from camstudy.lazy import lazy_exports

# public name -> "module:attribute", imported on first use
_PUBLIC = {
    # the whole report, from paths (what `camstudy report` does after parsing)
    "write_report": "analysis.reporting.write:write_report",
    # the pipeline on already-read inputs, and the readers
    "analyse": "analysis.reporting.analyse:analyse",
    "read_responses": "analysis.inputs.load:read_responses",
    "read_manifest": "analysis.inputs.load:read_manifest",
    "read_database": "analysis.inputs.database:read_database",
    # power and sample size (`camstudy power`)
    "PowerDesign": "analysis.stats.power:PowerDesign",
    "estimate_power": "analysis.stats.power:estimate_power",
    "participants_needed": "analysis.stats.power:participants_needed",
    # synthetic exports (`camstudy simulate` without --url)
    "SimulationSpec": "analysis.synthetic:SimulationSpec",
    "made_up_manifest": "analysis.synthetic:made_up_manifest",
    "simulate_responses": "analysis.synthetic:simulate_responses",
    "write_export": "analysis.synthetic:write_export",
    "write_synthetic_export": "analysis.synthetic:write_synthetic_export",
    # errors
    "AnalysisError": "analysis.errors:AnalysisError",
}

__all__ = sorted(_PUBLIC)

__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC, globals())

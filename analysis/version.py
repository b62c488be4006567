"""camstudy's version as the analysis records it (the report, its methods paragraph and
preregistration.json): read here, and only here, from ``camstudy.__version__``, the
project's single version string."""
from __future__ import annotations


def camstudy_version() -> str:
    from camstudy import __version__  # the dispatcher package; loaded when a report is written

    return __version__

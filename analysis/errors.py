"""Errors that name the problem in the study's own words."""
from __future__ import annotations


class AnalysisError(Exception):
    """A problem with the input that a researcher can fix (missing columns, bad config).

    The message is shown to the researcher as is, so it names the file, the
    column or key, and what was expected.
    """


class NotComputable(AnalysisError):
    """One result cannot be computed from this data; the rest of the report can."""

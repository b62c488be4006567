"""The exceptions webapp's public functions raise; each message says what is wrong and
what to do (``SettingsError``, for a study.toml, lives in ``webapp.settings``)."""
from __future__ import annotations


class StudyImportError(ValueError):
    """The study directory cannot be imported; the message says why."""


class StudyChangedError(StudyImportError):
    """The study id is already imported with a different manifest, and replacing it was
    not asked for (``replace``; with answers stored, also ``discard_answers``)."""


class SchemaError(RuntimeError):
    """The database schema is not the one this code expects."""


class ServeError(RuntimeError):
    """The survey cannot be served (port in use, no study, an old schema, no secret key)."""

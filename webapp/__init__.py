"""camstudy survey web app: blinded A/B judgments of explanation maps.

Folders by audience: ``survey/`` (participant pages, the JSON API, saving answers),
``recruitment/`` (where participants come from: the lab, MTurk and Prolific side by
side), ``admin/`` (the researcher area), ``data/`` (the database tables, import,
export, Alembic glue), ``server/`` (how it is served: development server, gunicorn,
security headers). ``app.py`` builds the Flask app (``flask --app webapp run`` finds
``create_app`` here), ``cli.py`` holds the subcommands (``camstudy db|import|serve|
export|mturk``), ``settings.py`` the study.toml sections.

The public functions below load lazily: ``import webapp`` loads neither flask nor
sqlalchemy, so ``camstudy check`` and other packages can import it cheaply.
"""
from __future__ import annotations

from camstudy.lazy import lazy_exports

# Participant ids of `camstudy simulate` (simulated people, not people): stored and
# exported like anyone's, marked in the admin area (analysis has its own copy: it does
# not import webapp).
SIM_PREFIX = "sim-"

_PUBLIC = {
    # the app
    "create_app": "webapp.app:create_app",
    "db_engine": "webapp.app:db_engine",
    # the database and studies in it
    "upgrade_database": "webapp.data.migrate:upgrade",
    "import_study": "webapp.data.importer:import_study_dir",
    "count_simulated_participants": "webapp.data.stored:count_simulated_participants",
    "stored_answers": "webapp.data.stored:stored_answers",
    "allocation_overruns": "webapp.data.stored:allocation_overruns",
    # serving
    "serve": "webapp.server.serve:serve",
    "port_problem": "webapp.server.devserver:port_problem",
    # the bytes the survey serves for an image
    "layout_free_png": "webapp.survey.stimulus_bytes:layout_free_png",
    # errors the functions above raise
    "StudyImportError": "webapp.errors:StudyImportError",
    "StudyChangedError": "webapp.errors:StudyChangedError",
    "SchemaError": "webapp.errors:SchemaError",
    "ServeError": "webapp.errors:ServeError",
    "SettingsError": "webapp.settings:SettingsError",
}
__all__ = ["SIM_PREFIX", *_PUBLIC]

__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC, globals())

"""The survey database: its tables, engine and per-request session; importing a study
directory, exporting responses, the Alembic glue, and read-only queries for other
packages."""

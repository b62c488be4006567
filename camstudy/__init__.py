"""camstudy: the `camstudy <subcommand>` dispatcher (cli.py), the commands that span the
packages (check.py, demo.py), and the base every package shares: the study.toml schema
(schema.py, studyfile.py, studydocs.py) and the layout-free PNG (layoutfree.py).
docs/architecture.md has the whole map."""

__version__ = "0.1.0"  # the project's one version string (pyproject.toml reads it)

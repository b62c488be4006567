"""Access logs that never carry an admin credential.

The admin token may arrive once as ``/admin/...?token=...`` (it is exchanged for a
session and redirected to the same URL without it, webapp/admin/views.py), and scripts send it
as ``Authorization: Bearer``. The request line of that first visit would otherwise sit in
the access log, readable by whoever reads logs. gunicorn (``serve --prod --access-log``)
logs admin requests without their query string and never logs an Authorization header,
through ``GunicornLogger``; the development server's one-line log leaves ``token=``
values out (webapp/server/devserver.py).
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from gunicorn.glogging import Logger

ADMIN_PREFIX = "/admin"


def is_admin_path(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


def scrub_target(target: str) -> str:
    """A request target (path and query) as it may be logged."""
    path = urlsplit(target).path
    return path if is_admin_path(path) else target


def scrub_request_line(line: str) -> str:
    """``GET /admin/?token=x HTTP/1.1`` -> ``GET /admin/ HTTP/1.1``; other lines unchanged."""
    parts = line.split(" ")
    if len(parts) == 3:
        parts[1] = scrub_target(parts[1])
    return " ".join(parts)


class GunicornLogger(Logger):
    """gunicorn's logger with admin query strings and Authorization headers left out."""

    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["{authorization}i"] = "-"
        if is_admin_path(environ.get("PATH_INFO", "")):
            atoms["r"] = scrub_request_line(atoms["r"])
            atoms["q"] = ""
            atoms["{query_string}e"] = ""
            atoms["{raw_uri}e"] = scrub_target(environ.get("RAW_URI", ""))
        return atoms

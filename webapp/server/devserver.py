"""The development server behind `camstudy serve` (without --prod) and `camstudy demo`.

Werkzeug's ``run_simple`` prints its own banner and colours its request log whether or
not the output is a terminal, so colour codes land in log files. This runs the same
threaded Werkzeug server without a banner (``camstudy serve`` prints its own) and logs
one plain line per request to a chosen stream, or nowhere. The port is checked before
any work is done, so a busy port fails at once instead of after a banner and a token.
"""
from __future__ import annotations

import re
import socket
import sys
from typing import TextIO

from werkzeug.serving import WSGIRequestHandler, make_server

_SECRET_QUERY = re.compile(r"((?:^|[?&])token=)[^&\s]*")


def port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be served on, or None when it is free. Binds the way the
    server will (SO_REUSEADDR, so a socket in TIME_WAIT does not count as busy)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        return f"cannot serve on host {host!r}: {exc}"
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return f"cannot serve on {host}:{port}: {exc.strerror or exc}"
    return None


def request_handler(log: TextIO | None) -> type[WSGIRequestHandler]:
    """A request handler that writes one plain line per request to ``log`` (None: none)."""

    class PlainLogHandler(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            if log is None:
                return
            line = _SECRET_QUERY.sub(r"\1…", getattr(self, "requestline", ""))  # admin links carry a token
            code = getattr(code, "value", code)
            log.write(f'{self.address_string()} - - [{self.log_date_time_string()}] "{line}" {code} {size}\n')
            log.flush()

    return PlainLogHandler


def run(app, host: str, port: int, debug: bool = False, log: TextIO | None = sys.stderr) -> None:
    """Serve ``app`` until Ctrl+C (threaded; Werkzeug's debugger with ``debug``)."""
    wsgi = app
    if debug:
        from werkzeug.debug import DebuggedApplication

        app.debug = True
        wsgi = DebuggedApplication(app, evalex=True)
        print(f"  debugger PIN (for the in-browser console): {wsgi.pin}", flush=True)
    server = make_server(host, port, wsgi, threaded=True, request_handler=request_handler(log))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()

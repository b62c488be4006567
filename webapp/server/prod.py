"""Production serving: the same app under gunicorn (``camstudy serve --prod``).

Processes are stateless: a participant's place lives in the database and their cookie
is signed with ``SECRET_KEY``, so any worker on any machine can answer any request as
long as they share the database and the key. Workers are gthread workers (a few
threads each: requests mostly wait on the database); each builds its own app and
engine after the fork, so no connection is ever shared between processes.

Behind a reverse proxy (nginx) ``ProxyFix`` trusts ``proxy_hops`` hops of
``X-Forwarded-For/-Proto/-Host/-Prefix``; rate limits then key on the real client
address and ``request.is_secure`` follows the proxy's TLS. The default is no hop: a
client that connects directly could otherwise name any address in ``X-Forwarded-For``
and walk past every per-address rate limit. Behind nginx set ``CAMSTUDY_PROXY_HOPS=1``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from flask import Flask


def proxy_hops_from_env() -> int:
    """``CAMSTUDY_PROXY_HOPS``, default 0 (clients connect directly; no forwarded header is trusted)."""
    text = os.environ.get("CAMSTUDY_PROXY_HOPS", "").strip() or "0"
    try:
        hops = int(text)
    except ValueError:
        raise ValueError(f"CAMSTUDY_PROXY_HOPS={text!r}: expected the number of proxies in front (0, 1, 2...)") from None
    if hops < 0:
        raise ValueError(f"CAMSTUDY_PROXY_HOPS={text!r} is negative")
    return hops


def default_workers() -> int:
    """Two per core, at least 2, at most 8: requests mostly wait on the database."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(2, min(8, 2 * cores))


@dataclass(frozen=True)
class ProdOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 0  # 0: default_workers()
    threads: int = 4
    proxy_hops: int = 0
    timeout: int = 30
    access_log: bool = False
    max_requests: int = 10_000  # recycle workers now and then (bounded memory growth)


def create_prod_app(config: dict[str, Any] | None = None, proxy_hops: int | None = None) -> Flask:
    """The survey app wrapped for a reverse proxy (also usable from a gunicorn command line:
    ``gunicorn 'webapp.server.prod:create_prod_app()'``, hops from ``CAMSTUDY_PROXY_HOPS``)."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    from webapp.app import create_app

    app = create_app({**(config or {}), "CAMSTUDY_PROD": True})  # e.g. /lab needs its password
    hops = proxy_hops_from_env() if proxy_hops is None else proxy_hops
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_prefix=hops)  # type: ignore[method-assign]
    return app


def gunicorn_settings(opts: ProdOptions) -> dict[str, Any]:
    return {
        "bind": f"{opts.host}:{opts.port}",
        "workers": opts.workers or default_workers(),
        "worker_class": "gthread",
        "threads": opts.threads,
        "timeout": opts.timeout,
        "graceful_timeout": 20,
        "keepalive": 5,
        "backlog": 2048,
        "max_requests": opts.max_requests,
        "max_requests_jitter": max(1, opts.max_requests // 10),
        "accesslog": "-" if opts.access_log else None,
        "errorlog": "-",
        "logger_class": "webapp.server.access_log.GunicornLogger",  # no admin token in the access log
        "loglevel": "warning",
        "proc_name": "camstudy",
        "preload_app": False,  # each worker opens its own database connections after the fork
    }


def run(config: dict[str, Any], opts: ProdOptions) -> int:
    """Serve until stopped (SIGTERM/SIGINT): gunicorn's master supervises the workers and
    restarts any that die (a crash, an out-of-memory kill, a ``kill -9``)."""
    from gunicorn.app.base import BaseApplication

    class SurveyApplication(BaseApplication):
        def load_config(self) -> None:
            for key, value in gunicorn_settings(opts).items():
                if value is not None:
                    self.cfg.set(key, value)

        def load(self) -> Flask:
            return create_prod_app(config, opts.proxy_hops)

    SurveyApplication().run()
    return 0

"""Simulated participants who take a running survey over real HTTP, and the audit of
what they stored (``camstudy simulate --url URL``).

Each simulated participant is a cookie-keeping HTTP client that walks the survey as a
person in the lab does (``crowdsim.client``), answering by a response model
(``crowdsim.behaviour``); ``simulate`` runs many at once (``crowdsim.run``) and
``audit`` checks the database afterwards (``crowdsim.audit``). Nothing is written to the
database except through those requests, so everything they store is marked as
simulated by its participant id prefix ``sim-`` (``SIM_PREFIX``).

Not to be confused with ``analysis.synthetic``, which writes a synthetic responses
export without any server. This package uses only webapp's public surface.

The public names load lazily: ``import crowdsim`` imports neither requests nor webapp.
"""
from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "simulate": "crowdsim.run:simulate",
    "SimulationResult": "crowdsim.run:SimulationResult",
    "ClientOptions": "crowdsim.client:ClientOptions",
    "SimulationError": "crowdsim.client:SimulationError",
    "Timings": "crowdsim.client:Timings",
    "ResponseModel": "crowdsim.behaviour:ResponseModel",
    "StudyView": "crowdsim.behaviour:StudyView",
    "choose": "crowdsim.behaviour:choose",
    "audit": "crowdsim.audit:audit",
    "main": "crowdsim.cli:main",
    "SIM_PREFIX": "webapp:SIM_PREFIX",
}
__all__ = list(_PUBLIC)


def __getattr__(name: str) -> Any:
    target = _PUBLIC.get(name)
    if target is None:
        raise AttributeError(f"module 'crowdsim' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

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

from camstudy.lazy import lazy_exports

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

__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC, globals())

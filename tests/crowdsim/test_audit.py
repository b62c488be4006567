"""The audit of a simulation run against the database."""
from __future__ import annotations

from tests.webapp.helpers import add_extra_trials


def test_audit_reports_over_allocation_of_real_and_practice_trials(app, walker):
    """The load and fault tests trust audit(): it must see a participant with more
    trials (or practice trials) than the settings allow."""
    from crowdsim.audit import audit
    from crowdsim.client import Timings
    from crowdsim.run import SimulationResult
    from webapp import db_engine

    walker.begin_lab_session("OVER1")
    engine = db_engine(app)
    nothing = SimulationResult([], Timings(), 1.0, "none")
    assert audit(engine, nothing) == []
    add_extra_trials(app)
    problems = audit(engine, nothing)
    assert any("OVER1" in p and " trials, more than" in p and "practice" not in p for p in problems), problems
    assert any("OVER1" in p and "practice trials, more than" in p for p in problems), problems

"""Fixtures shared by the generator tests."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def trained_demo_model(tmp_path_factory):
    """The default `camstudy train --demo` checkpoint (seed 0), trained once per test session
    (about 40 s on two free cores) for the tests that need a genuinely trained demo CNN."""
    from generator.train import train_demo_model

    path = tmp_path_factory.mktemp("demo-model") / "demo-model.pt"
    metrics = train_demo_model(path, seed=0, progress=False)
    return path, metrics

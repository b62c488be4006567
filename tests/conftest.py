"""Shared test plumbing: system pieces (Chromium, PostgreSQL) that some tests need, and
moto's S3 server with fake AWS credentials.

Where a piece is missing the test is skipped with a line that says why; under CI
(``CI=true``) a missing piece is a failure, because CI installs everything with
``.ci/system-deps.sh`` and a skip there would hide a broken set-up.
"""
from __future__ import annotations

import os
import shutil
from typing import Iterator

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEFAULT_POSTGRES_URL = "postgresql+psycopg://camstudy:camstudy@127.0.0.1:5432/camstudy_test"
FAKE_AWS_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


def missing_piece(reason: str) -> None:
    """Skip (locally) or fail (under CI) because a system piece is not there."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"CI=true but {reason}; .ci/system-deps.sh should have provided it")
    pytest.skip(f"{reason}; run `bash .ci/system-deps.sh` (as root) to install it")


def chromium_path() -> str:
    path = os.environ.get("CAMSTUDY_CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser"
    )
    if not path:
        missing_piece("Chromium is not installed (needed for the real-browser tests)")
    return path


@pytest.fixture(scope="session")
def browser():
    """A headless Debian Chromium driven by Playwright, shared by the session."""
    path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - dev extra missing
        missing_piece("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a reachable PostgreSQL test database (see .ci/system-deps.sh)."""
    url = os.environ.get("CAMSTUDY_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        missing_piece(f"PostgreSQL is not reachable at {url} ({type(exc).__name__})")
    return url


@pytest.fixture
def artifact_dir() -> "os.PathLike[str]":
    """Where tests keep files a person may want to look at (screenshots, reports)."""
    from pathlib import Path

    d = Path(os.environ.get("CAMSTUDY_ARTIFACTS", Path(__file__).parent.parent / "test-artifacts"))
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture
def moto_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Endpoint URL of moto's S3 server on a free port of 127.0.0.1, holding an empty bucket
    'stimuli'. Fake AWS credentials and region are in the environment for the test (and so
    for any subprocess it starts)."""
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    for key, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="stimuli")
        yield endpoint
    finally:
        server.stop()


BLIND_PAIRS, BLIND_CHECKS = 120, 12


@pytest.fixture(scope="session")
def blind_study(tmp_path_factory):
    """(study directory, manifest): 120 pairs and 12 attention checks rendered by the real
    generator (demo CNN, random weights, 64 px), for the byte-level blinding attacks on the
    files (tests/generator) and through the app (tests/webapp)."""
    torch = pytest.importorskip("torch")
    from generator import generate
    from tests.generator.helpers import demo_study_toml

    tmp = tmp_path_factory.mktemp("blind")
    (tmp / "study.toml").write_text(demo_study_toml("blind", images=130, size=64) + f"""[pairs]
n = {BLIND_PAIRS}
seed = 3
attention_checks = {BLIND_CHECKS}
[survey]
practice_trials = 0
questionnaire = false
[assignment]
pairs_per_participant = 30
attention_checks_per_participant = 3
ratings_per_pair = 1
[output]
dir = "out"
""")
    torch.manual_seed(0)
    manifest = generate(tmp / "study.toml")
    return tmp / "out", manifest


@pytest.fixture(scope="session")
def trained_demo_model(tmp_path_factory):
    """The default `camstudy train --demo` checkpoint (seed 0) and its metrics, trained once per
    test session (about 70 s on two free cores) for the tests that need a genuinely trained
    demo CNN. (A model trained for a step or two is no stand-in: its head is still uniform
    across locations, so Grad-CAM equals HiResCAM and every demo pair is void.)"""
    from generator import train_demo_model

    path = tmp_path_factory.mktemp("demo-model") / "demo-model.pt"
    metrics = train_demo_model(path, seed=0, progress=False)
    return path, metrics

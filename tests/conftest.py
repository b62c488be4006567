"""Shared test plumbing: system pieces (Chromium, PostgreSQL) that some tests need,
moto's S3 server with fake AWS credentials, and the expensive fixtures (a trained demo
CNN, a rendered study) that several test files share.

The suite runs on every core (pytest-xdist, ``-n auto --dist loadfile`` in pyproject.toml):
each worker gets its own PostgreSQL database (``<database>_gw1`` ...), and an expensive
session fixture is built once for all workers (``built_once``).

Where a piece is missing the test is skipped with a line that says why; under CI
(``CI=true``) a missing piece is a failure, because CI installs everything with
``.ci/system-deps.sh`` and a skip there would hide a broken set-up.
"""
from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

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


BASE_POSTGRES_URL = os.environ.get("CAMSTUDY_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1, ... under pytest-xdist
if WORKER and int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    # One core's worth of threads per worker: torch's (and BLAS's) busy-waiting threads on
    # a core that another worker uses slow both down several-fold (the demo CNN trained in
    # 350 s instead of 70 s). Set before anything imports torch; subprocesses inherit it.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")

# Test files that must run on one worker, one after another, named by what they use:
# the trained demo CNN (built once; no worker waits for another to build it) and
# PostgreSQL (tests/webapp/server/test_faults.py restarts the server, which would break
# another worker's connections).
ONE_WORKER = {
    "trained-demo-model": ("trained_demo_model",),
    "postgres": ("postgres_url", "any_db_url", "fresh_postgres", "mark.postgres"),
}


@functools.lru_cache(maxsize=None)  # asked once per test by the scheduler: read each file once
def group_of(path: Path, root: Path) -> str:
    """The scheduling group of a test file: a ONE_WORKER group, else the file itself."""
    text = path.read_text(encoding="utf-8") if path.suffix == ".py" and path.is_file() else ""
    for group, words in ONE_WORKER.items():
        if any(w in text for w in words):
            return group
    return path.relative_to(root).as_posix()


@pytest.hookimpl(optionalhook=True)  # a pytest without xdist (the GPU check) has no such hook
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadfile`` with the ONE_WORKER groups: each group (a file, or the files of a
    ONE_WORKER group) goes to one worker whole, in collection order (slow groups first,
    see below). pytest-xdist's own ``loadgroup`` cannot do this under pytest 9: it marks
    groups by rewriting ``item._nodeid``, which pytest 9 no longer reads."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    root = config.rootpath

    class FileGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(root / nodeid.split("::", 1)[0], root)

    return FileGroupScheduling(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The order the workers take the groups in: the ONE_WORKER groups, then groups with
    slow tests, then the rest, so the longest work starts at once rather than at the end
    of the run (--no-loadscope-reorder in pyproject.toml keeps this order)."""
    groups = {path: group_of(path, config.rootpath) for path in {i.path for i in items}}
    first = {g: n for n, g in reversed(list(enumerate(groups[i.path] for i in items)))}
    slow = {groups[i.path] for i in items if i.get_closest_marker("slow")}
    rank = {g: (g not in ONE_WORKER, g not in slow, first[g]) for g in first}
    items.sort(key=lambda i: rank[groups[i.path]])  # stable: a file keeps its own order


def pytest_configure(config: pytest.Config) -> None:
    if WORKER:  # every worker its own database: tests reset and drop what they use
        from sqlalchemy import make_url

        base = make_url(BASE_POSTGRES_URL)
        os.environ["CAMSTUDY_TEST_POSTGRES_URL"] = base.set(database=f"{base.database}_{WORKER}").render_as_string(
            hide_password=False)


def create_worker_database(url: str) -> None:
    """Create this worker's database on the server of the configured one, if missing."""
    import sqlalchemy as sa

    name = sa.make_url(url).database
    admin = sa.create_engine(BASE_POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if not conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a reachable PostgreSQL test database (see .ci/system-deps.sh); under xdist, the
    worker's own database on that server, created on first use."""
    url = os.environ.get("CAMSTUDY_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    try:
        import sqlalchemy as sa

        if url != BASE_POSTGRES_URL:
            create_worker_database(url)
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


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build) -> tuple[Path, Any]:
    """(folder, result) of ``build(folder)``, run once for all xdist workers of this run.

    The first worker to ask builds into a folder shared by the run's workers, under a file
    lock, and records ``build``'s JSON result; the others wait for the lock and read it.
    Without xdist this is an ordinary build in the session's temporary folder."""
    import json

    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if WORKER:
        root = root.parent  # the run's folder, above each worker's own
    folder, done = root / f"shared-{name}", root / f"shared-{name}.json"
    with FileLock(str(root / f"shared-{name}.lock")):
        if not done.is_file():
            folder.mkdir(exist_ok=True)
            done.write_text(json.dumps(build(folder)))
    return folder, json.loads(done.read_text())


BLIND_PAIRS, BLIND_CHECKS = 120, 12


@pytest.fixture(scope="session")
def blind_study(tmp_path_factory):
    """(study directory, manifest): 120 pairs and 12 attention checks rendered by the real
    generator (demo CNN, random weights, 64 px), for the byte-level blinding attacks on the
    files (tests/generator) and through the app (tests/webapp)."""
    pytest.importorskip("torch")
    folder, manifest = built_once(tmp_path_factory, "blind-study", render_blind_study)
    return folder / "out", manifest


def render_blind_study(tmp: Path) -> dict:
    import torch

    from generator import generate
    from tests.generator.helpers import demo_study_toml

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
    return generate(tmp / "study.toml")


@pytest.fixture(scope="session")
def trained_demo_model(tmp_path_factory):
    """The default `camstudy train --demo` checkpoint (seed 0) and its metrics, trained once per
    test session (about 70 s on two free cores) for the tests that need a genuinely trained
    demo CNN, once for all xdist workers. (A model trained for a step or two is no stand-in:
    its head is still uniform across locations, so Grad-CAM equals HiResCAM and every demo
    pair is void.) Tests copy the checkpoint before they write anything next to it."""
    folder, metrics = built_once(tmp_path_factory, "demo-model", train_demo_checkpoint)
    return folder / "demo-model.pt", metrics


def train_demo_checkpoint(folder: Path) -> dict:
    from generator import train_demo_model

    return train_demo_model(folder / "demo-model.pt", seed=0, progress=False)

"""`camstudy demo` (what `make demo` runs): the whole pipeline on the built-in default.

train the demo CNN (once) -> render the demo study -> set up a SQLite database ->
import the study -> put a few simulated sessions in (once) -> serve the survey on
http://127.0.0.1:5000. Everything lives in ./demo-out; a second run reuses what is
already there.

The simulated sessions give the admin area and the report something to show. They are
taken by `camstudy simulate` over real HTTP, so they are stored like anyone's answers;
their participant ids start with "sim-", which the admin area and the report mark.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import secrets
import shlex
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_SIMULATED = 12  # 12 people x 20 pairs: each demo pair gets about 6 ratings
# Seconds a simulated person looks at each trial (0.65-1.95 s, median 1.3 s): above the
# server-side timing rule (median under 1 s is "too fast", webapp/admin/timing.py), so the demo's
# sessions look like people; all of them take part at once, so seeding takes about 35 s.
DEMO_THINK_S = 1.3


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def prepare_study(out: Path, seed: int) -> Path:
    """Train (if needed) and render the demo study; returns the study directory."""
    from generator import demo_config_path, demo_model_usable, generate, summary_text, train_demo_model

    out.mkdir(parents=True, exist_ok=True)
    model_path = out / "demo-model.pt"
    if model_path.is_file() and not demo_model_usable(model_path):
        print(f"{model_path} was trained for an older demo CNN: training it again")
        model_path.unlink()
    if model_path.is_file():
        step(f"demo model: {model_path} (already trained)")
    else:
        step("training the demo CNN on synthetic scenes (about 70 s on 2 free CPU cores)")
        started = time.perf_counter()
        train_demo_model(model_path, seed=seed)
        print(f"trained in {time.perf_counter() - started:.0f} s -> {model_path}")
    study_toml = out / "study.toml"
    text = demo_config_path().read_text(encoding="utf-8")
    if not study_toml.is_file() or study_toml.read_text(encoding="utf-8") != text:
        study_toml.write_text(text, encoding="utf-8")
    step("rendering the demo study (Grad-CAM vs HiResCAM A/B pairs)")
    manifest = generate(study_toml)
    study_dir = out / "study"
    print(summary_text(manifest, str(study_dir)))
    return study_dir


def setup_database(database_url: str, study_dir: Path) -> int:
    """Migrate the demo database and import the study (replacing an outdated demo study)."""
    from webapp import (SchemaError, SettingsError, StudyChangedError, StudyImportError, import_study,
                        upgrade_database)

    step(f"database: {database_url}")
    try:
        upgrade_database(database_url)
        step(f"importing {study_dir}")
        try:
            result = import_study(study_dir, database_url)
        except StudyChangedError:
            # The demo study changed since the last import (e.g. the demo model was retrained):
            # demo answers are disposable, so replace the study rather than stop.
            print("the demo study changed since it was imported: replacing it (demo answers are discarded)")
            result = import_study(study_dir, database_url, replace=True, discard_answers=True)
    except (StudyImportError, SettingsError, SchemaError) as exc:
        print(f"camstudy demo: error: {exc}", file=sys.stderr)
        return 1
    print(result.summary())
    return 0


@contextmanager
def loopback_server(app) -> Iterator[str]:
    """Serve ``app`` on an ephemeral 127.0.0.1 port in a thread; yields its base URL."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args, **kwargs) -> None:  # hundreds of lines nobody reads
            pass

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="demo-seed", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


def seed_simulated(database_url: str, study_dir: Path, participants: int) -> int:
    """Put ``participants`` simulated sessions into the database, once; returns how many
    were added (0 when the study already has simulated participants).

    They take the survey over HTTP from a server of the same app on a loopback port,
    and "see" the methods through the manifest, so their answers follow the
    simulator's response model (Grad-CAM chosen as larger more often). They are paced
    like people (DEMO_THINK_S per trial, real time on the server's clock, reported as
    rt_ms), so the report's server-side timing rule keeps them. That server has no rate
    limits: every simulated person comes from 127.0.0.1.
    """
    from crowdsim import SIM_PREFIX, ClientOptions, ResponseModel, simulate
    from webapp import count_simulated_participants, create_app, db_engine

    if participants <= 0:
        return 0
    manifest = json.loads((study_dir / "manifest.json").read_text(encoding="utf-8"))
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": secrets.token_hex(32),
                      "SESSION_COOKIE_SECURE": False, "RATELIMIT_ENABLED": False,
                      "CAMSTUDY_STUDY": manifest["study_id"]})
    try:
        already = count_simulated_participants(db_engine(app), manifest["study_id"])
        if already:
            print(f"simulated sessions: {already} already in the database (ids {SIM_PREFIX}…, "
                  "marked as simulated); none added")
            return 0
        opts = ClientOptions(lab_password=app.config.get("CAMSTUDY_LAB_PASSWORD"), think_s=DEMO_THINK_S)
        with loopback_server(app) as url:
            result = simulate(url, participants, ResponseModel(), manifest, concurrency=min(participants, 16),
                              opts=opts, max_seconds=300, run_id="demo", seed=0)
        added = count_simulated_participants(db_engine(app), manifest["study_id"])
    finally:
        db_engine(app).dispose()
    for error in result.errors[:5]:
        print(f"  simulated participant failed: {error}", file=sys.stderr)
    completed = sum(p.completed for p in result.participants)
    print(f"simulated sessions: added {added} ({completed} completed, {result.answers} trials answered; "
          f"ids {SIM_PREFIX}demo-…), marked as simulated in the admin area and the report")
    return added


def camstudy_command() -> str:
    """How to run camstudy from the shell that ran this: `camstudy` when it is on PATH,
    else the script beside this Python (``make demo`` runs without activating .venv)."""
    beside = Path(sys.executable).parent / "camstudy"
    found = shutil.which("camstudy")
    if found and (not beside.is_file() or Path(found).resolve() == beside.resolve()):
        return "camstudy"
    if beside.is_file():
        try:
            return shlex.quote(str(beside.relative_to(Path.cwd())))
        except ValueError:
            return shlex.quote(str(beside))
    return f"{shlex.quote(sys.executable)} -m camstudy"


def next_steps(out: Path, database_url: str) -> str:
    """Ready-to-paste commands that export and analyse the demo's answers."""
    cmd, url = camstudy_command(), shlex.quote(database_url)
    study = shlex.quote(str(out / "study" / "manifest.json"))
    return (f"\nThe demo's answers are in {database_url}. To export and analyse them:\n"
            f"  {cmd} export --database-url {url} --out {shlex.quote(str(out / 'responses.csv'))}\n"
            f"  {cmd} report --db {url} --manifest {study} --config {shlex.quote(str(out / 'study.toml'))} "
            f"--out {shlex.quote(str(out / 'report'))}")


def port_problem(host: str, port: int) -> str | None:
    try:
        from webapp import port_problem as problem
    except ImportError:  # no web app in this installation: nothing will be served
        return None
    return problem(host, port)


def serve_study(out: Path, study_dir: Path, host: str, port: int, simulated: int = DEFAULT_SIMULATED) -> int:
    if importlib.util.find_spec("flask") is None:
        print("(the survey web app is not available in this installation: flask is not installed)")
        return 0
    from webapp import ServeError, serve

    os.environ.setdefault("DATABASE_URL", f"sqlite:///{(out / 'survey.sqlite').resolve()}")
    database_url = os.environ["DATABASE_URL"]
    code = setup_database(database_url, study_dir)
    if code:
        return code
    if simulated:
        step(f"simulated sessions: {simulated} simulated participants take the survey over HTTP, "
             "unless the database has some already")
        seed_simulated(database_url, study_dir, simulated)
    print(next_steps(out, database_url))
    log = out / "access.log"
    step(f"serving the survey on http://{host}:{port} (Ctrl+C stops it; one line per request in {log})")
    try:
        serve(host, port, log, database_url=database_url)
    except ServeError as exc:
        print(f"camstudy demo: error: {exc}", file=sys.stderr)
        return 1
    print(next_steps(out, database_url))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="camstudy demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo-out", help="working directory (default: ./demo-out)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0, help="seed of the demo model's training")
    parser.add_argument("--no-serve", action="store_true", help="stop after rendering the study")
    parser.add_argument("--fresh", action="store_true", help="delete the working directory first")
    parser.add_argument("--simulated", type=int, default=DEFAULT_SIMULATED, metavar="N",
                        help="simulated participants to put in once, so the admin area and the report "
                             f"have something to show (ids start with 'sim-'; default {DEFAULT_SIMULATED}, 0: none)")
    args = parser.parse_args(argv)
    if not 0 <= args.simulated <= 1000:
        parser.error("--simulated must be between 0 and 1000")
    out = Path(args.out).resolve()
    busy = None if args.no_serve else port_problem(args.host, args.port)
    if busy:  # before training: a second `make demo` fails now, not after minutes of work
        print(f"camstudy demo: error: {busy}. Stop the other server (another `make demo`?) or choose "
              f"another port: `PORT={args.port + 1} make demo` or `camstudy demo --port {args.port + 1}`",
              file=sys.stderr)
        return 1
    if args.fresh and out.exists():
        shutil.rmtree(out)
    from generator import CamStudyError

    try:
        study_dir = prepare_study(out, args.seed)
    except CamStudyError as exc:
        print(f"camstudy demo: error: {exc}", file=sys.stderr)
        return 1
    print(f"\nReview the stimuli (methods shown, researcher only): {study_dir / 'gallery.html'}")
    if args.no_serve:
        return 0
    return serve_study(out, study_dir, args.host, args.port, args.simulated)

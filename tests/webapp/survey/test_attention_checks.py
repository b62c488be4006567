"""Attention checks as configured: every participant gets exactly
``attention_checks_per_participant`` checks, although the generator draws checks on study
images and nobody sees an image twice; an import that cannot honour the setting is
refused; the admin area shows each participant's checks received, answered and failed."""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.webapp.helpers import import_into, migrate_and_import
from webapp.data.engine import make_engine
from webapp.data.importer import StudyImportError
from webapp.data.tables import Participant, Response, Trial

TOKEN = "tok-admin-checks-1"


def checks_per_participant(db_url: str, finished_only: bool = True) -> dict[str, int]:
    """participant id -> attention checks in their real (non-practice) sequence, from the database."""
    engine = make_engine(db_url)
    with Session(engine) as s:
        query = (select(Participant.participant_id, func.count(Trial.id))
                 .outerjoin(Trial, (Trial.participant_pk == Participant.id) & Trial.is_attention_check
                            & Trial.is_practice.is_(False))
                 .group_by(Participant.id))
        if finished_only:
            query = query.where(Participant.completed_at.is_not(None))
        rows = dict(s.execute(query).all())
    engine.dispose()
    return rows


def test_checks_drawn_on_study_images_reach_every_participant(any_db_url, make_study):
    """6 pairs on 6 images, 3 checks drawn on 3 of them, 5 real pairs and 2 checks each: before
    the fix the repeat rule dropped the checks whose image a real pair had taken."""
    from tests.webapp.survey.test_assignment import start

    study = make_study(n_pairs=6, n_attention=3, checks_on_study_images=True, toml=(
        "[survey]\npractice_trials = 1\n[assignment]\npairs_per_participant = 4\n"
        "attention_checks_per_participant = 2\nratings_per_pair = 50\n"))
    migrate_and_import(any_db_url, study)
    engine = make_engine(any_db_url)
    for i in range(15):
        start(engine, f"C{i:02d}")
    engine.dispose()
    got = checks_per_participant(any_db_url, finished_only=False)
    assert Counter(got.values()) == Counter({2: 15})


def test_more_checks_per_participant_than_distinct_check_images_is_refused(sqlite_url, make_study):
    """3 checks, but two on the same image: nobody sees an image twice, so 3 per person cannot be."""
    from webapp.data.migrate import upgrade

    upgrade(sqlite_url)
    study = make_study(n_pairs=6, n_attention=3, toml="[pairs]\nn = 6\nattention_checks = 3\n"
                                                       "[assignment]\npairs_per_participant = 2\n"
                                                       "attention_checks_per_participant = 3\n")
    manifest = json.loads((study / "manifest.json").read_text())
    manifest["pairs"][-1]["image_id"] = manifest["pairs"][-2]["image_id"]
    (study / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StudyImportError, match=r"attention_checks_per_participant = 3, but the manifest has "
                                           r"attention checks on only 2 distinct image"):
        import_into(sqlite_url, study)


def test_more_checks_per_participant_than_rendered_is_refused(sqlite_url, make_study):
    from webapp.data.migrate import upgrade
    from webapp.settings import SettingsError

    upgrade(sqlite_url)
    study = make_study(n_pairs=6, n_attention=2, toml="[assignment]\npairs_per_participant = 3\n"
                                                       "attention_checks_per_participant = 3\n")
    with pytest.raises((StudyImportError, SettingsError), match=r"attention_checks_per_participant = 3"):
        import_into(sqlite_url, study)


def test_checks_that_would_take_images_from_real_pairs_are_refused(sqlite_url, make_study):
    """6 images, checks on 2 of them: 5 real pairs + 2 checks each cannot all be distinct images."""
    from webapp.data.migrate import upgrade

    upgrade(sqlite_url)
    study = make_study(n_pairs=6, n_attention=2, checks_on_study_images=True, toml=(
        "[assignment]\npairs_per_participant = 5\nattention_checks_per_participant = 2\n"))
    with pytest.raises(StudyImportError, match=r"can rate at most 4 of the 6 images with real pairs; "
                                           r"lower pairs_per_participant to 4"):
        import_into(sqlite_url, study)
    (study / "study.toml").write_text("[assignment]\npairs_per_participant = 4\nattention_checks_per_participant = 2\n")
    assert import_into(sqlite_url, study).created


def test_an_unset_checks_setting_gives_everyone_every_rendered_check(sqlite_url, make_study):
    """Not set: the default (2) or every check on a distinct image, whichever is fewer; that
    number is what participants get and what the admin area expects."""
    from tests.webapp.survey.test_assignment import start

    from webapp.data.tables import Study

    study = make_study(n_pairs=6, n_attention=1, checks_on_study_images=True,
                       toml="[survey]\npractice_trials = 0\n[assignment]\npairs_per_participant = 4\n")
    migrate_and_import(sqlite_url, study)
    engine = make_engine(sqlite_url)
    for i in range(5):
        start(engine, f"U{i}")
    with Session(engine) as s:
        assert s.scalars(select(Study)).one().settings["assignment"]["attention_checks_per_participant"] == 1
    engine.dispose()
    assert set(checks_per_participant(sqlite_url, finished_only=False).values()) == {1}


# --------------------------------------------------------------------------- the demo study

DEMO = """[pairs]
n = 40
seed = 0
attention_checks = 4
[render]
display_size = 96
[output]
dir = "study"
[assignment]
attention_checks_per_participant = 2
"""


@pytest.fixture(scope="module")
def demo_study(tmp_path_factory) -> Path:
    """The demo study's shape (the demo CNN, 80 demo images, 40 pairs, 4 checks drawn on
    study images), rendered by the real generator at a small size."""
    torch = pytest.importorskip("torch")
    from generator import generate
    from tests.generator.helpers import demo_study_toml

    tmp = tmp_path_factory.mktemp("demo-checks")
    config = tmp / "study.toml"
    config.write_text(demo_study_toml("demo-shapes", images=80, size=96) + DEMO)
    torch.manual_seed(0)
    manifest = generate(config)
    checks = [p["image_id"] for p in manifest["pairs"] if p["is_attention_check"]]
    real = {p["image_id"] for p in manifest["pairs"] if not p["is_attention_check"]}
    assert len(checks) == 4 and set(checks) <= real  # the layout that broke delivery
    return tmp / "study"


def admin_check_columns(html: str) -> dict[str, tuple[int, int, int]]:
    """participant id -> (checks received, answered, failed) as the admin table shows them."""
    rows = re.findall(r'data-participant="([^"]+)">.*?<td data-checks="received">(\d+).*?'
                      r'<td data-checks="answered">(\d+)</td><td data-checks="failed">(\d+)</td>', html, re.S)
    return {pid: (int(r), int(a), int(f)) for pid, r, a, f in rows}


@pytest.mark.slow
def test_fifteen_simulated_participants_on_the_demo_study_all_get_the_configured_checks(
        demo_study, make_app, sqlite_url, serve_live):
    from crowdsim import ResponseModel, simulate

    base = serve_live(make_app(sqlite_url, demo_study, CAMSTUDY_ADMIN_TOKEN=TOKEN))
    manifest = json.loads((demo_study / "manifest.json").read_text())
    result = simulate(base, 15, model=ResponseModel(attention_accuracy=0.6), manifest=manifest,
                      concurrency=3, max_seconds=120, run_id="chk")
    assert not result.errors and all(p.completed for p in result.participants)
    got = checks_per_participant(sqlite_url)
    assert len(got) == 15 and set(got.values()) == {2}, got

    html = requests.get(f"{base}/admin/", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).text
    shown = admin_check_columns(html)
    engine = make_engine(sqlite_url)
    with Session(engine) as s:
        failed = dict(s.execute(
            select(Participant.participant_id, func.count(func.distinct(Response.trial_pk)))
            .join(Response, Response.participant_pk == Participant.id)
            .join(Trial, Response.trial_pk == Trial.id)
            .where(Response.attention_correct.is_(False), Trial.is_practice.is_(False))
            .group_by(Participant.id)).all())
    engine.dispose()
    assert shown == {pid: (2, 2, failed.get(pid, 0)) for pid in got}
    assert sum(failed.values()) > 0  # the failed column is exercised, not always 0
    raw = (demo_study / manifest["raw_maps"]).read_bytes()  # the generator's raw maps: never served
    assert requests.get(f"{base}/stimuli/{hashlib.sha256(raw).hexdigest()[:32]}.png", timeout=10).status_code == 404

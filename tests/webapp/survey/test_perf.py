"""The per-process caches and cheap responses behind the survey's load figures
(BENCHMARKS.md, "Survey load") must not change what participants see."""
from __future__ import annotations

import re
import threading

from tests.webapp.helpers import Walker, import_into


def test_settings_edit_reaches_a_running_app(make_app, make_study, sqlite_url):
    d = make_study()
    app = make_app(sqlite_url, d)
    w = Walker(app.test_client()).begin_lab_session("P1")
    trial = w.get(f"/s/{w.token}/").headers["Location"]
    assert "About the same" in w.get(trial).get_data(as_text=True)
    # cached now; a re-import that only edits study.toml must show on the next request
    (d / "study.toml").write_text('[survey]\ntitle = "Brand new title"\nallow_same = false\n')
    import_into(sqlite_url, d)
    page = w.get(trial).get_data(as_text=True)
    assert "Brand new title" in page and "About the same" not in page


def test_stimulus_is_conditional_and_sets_no_cookie(client):
    w = Walker(client).begin_lab_session("P2")
    page = w.get(w.get(f"/s/{w.token}/").headers["Location"]).get_data(as_text=True)
    url = re.search(r'<img[^>]*\ssrc="(/stimuli/[^"]+)"', page).group(1)
    first = client.get(url)
    assert first.status_code == 200 and first.data.startswith(b"\x89PNG")
    assert "immutable" in first.headers["Cache-Control"] and first.headers.get("ETag")
    assert "Set-Cookie" not in first.headers
    again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and not again.data
    assert client.get("/stimuli/" + "0" * 32 + ".png").status_code == 404


def test_memory_rate_limit_storage_starts_its_timer_once():
    from limits.storage import storage_from_string

    from webapp.server.security import LockedMemoryStorage

    storage = storage_from_string("memory://")
    assert isinstance(storage, LockedMemoryStorage)
    errors: list[str] = []

    def hammer(i: int) -> None:
        for j in range(300):
            try:
                storage.incr(f"k{i}-{j % 5}", 0.001)
            except RuntimeError as exc:  # "threads can only be started once" without the lock
                errors.append(str(exc))

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors


def test_images_need_no_query_once_known_and_a_removed_study_stops_being_served(app, client, monkeypatch):
    from sqlalchemy import delete, event

    from webapp.app import db_engine
    from webapp.data.engine import db
    from webapp.data.tables import Study
    from webapp.survey import pages as survey

    w = Walker(client).begin_lab_session("P3")
    page = w.get(w.get(f"/s/{w.token}/").headers["Location"]).get_data(as_text=True)
    url = re.search(r'<img[^>]*\ssrc="(/stimuli/[^"]+)"', page).group(1)
    assert client.get(url).status_code == 200
    statements: list[str] = []
    event.listen(db_engine(app), "before_cursor_execute", lambda *a: statements.append(a[2]))
    assert client.get(url).status_code == 200 and statements == []  # served from the checked index
    assert client.get("/stimuli/" + "1" * 32 + ".png").status_code == 404 and statements  # a miss checks
    with app.app_context():  # the study goes away; once the recheck interval is over, so do its images
        db.session.execute(delete(Study))
        db.session.commit()
    monkeypatch.setattr(survey, "STIMULI_RECHECK_S", 0.0)
    assert client.get(url).status_code == 404

"""Blinding: crawl a whole participant session and search everything the participant's
browser receives or requests (HTML, JS, CSS, JSON, headers, URLs, image bytes and their
metadata) for a method name."""
from __future__ import annotations

import re

from tests import blinding_attack as attack
from tests.webapp.helpers import Walker, migrate_and_import

METHOD_RE = re.compile(rb"grad[\s_-]?cam|hi[\s_-]?res[\s_-]?cam|hires", re.IGNORECASE)


def leaks(url: str, resp) -> list[str]:
    found = []
    if METHOD_RE.search(url.encode()):
        found.append(f"URL {url}")
    for name, value in resp.headers.items():
        if METHOD_RE.search(f"{name}: {value}".encode()):
            found.append(f"header {name}: {value} (from {url})")
    body = resp.get_data()
    if METHOD_RE.search(body):
        found.append(f"body of {url} ({resp.mimetype})")
    return found


def test_nothing_a_participant_fetches_names_a_method(make_app, make_study, sqlite_url):
    # a generator that wrote method names into PNG metadata must not leak through the app
    study = make_study(n_pairs=6, n_attention=1, leak_metadata=True)
    assert any(METHOD_RE.search(f.read_bytes()) for f in (study / "stimuli").iterdir())  # the files do leak
    app = make_app(sqlite_url, study)
    w = Walker(app.test_client())
    w.fetch_page_and_assets("/")
    w.fetch_page_and_assets("/lab")
    w.start_lab("BLIND1")
    w.fetch_page_and_assets(f"/s/{w.token}/")
    w.form(f"/s/{w.token}/consent", {"agree": "y"})
    w.fetch_page_and_assets(f"/s/{w.token}/instructions")
    w.form(f"/s/{w.token}/instructions")
    for index in range(-1, 5):
        w.get(f"/api/v1/participants/{w.token}/trials/{index}")
        w.get(f"/api/v1/participants/{w.token}")
    w.finish({"larger": "A", "focused": "same"})
    # things a curious participant might try
    for url in ("/gallery.html", "/manifest.json", "/pairs.csv", "/stimuli/", "/static/../manifest.json",
                "/api/v1/openapi.yaml", f"/s/{w.token}/trial/0", "/admin/"):
        w.get(url)
    # replays and errors must not echo anything revealing either
    w.answer(0, {"larger": "B", "focused": "B"})
    w.answer(99)

    urls = [u for u, _ in w.responses]
    assert sum("/stimuli/" in u and u.endswith(".png") for u in urls) >= 15  # images were really fetched
    assert any("/trial/" in u for u in urls) and any(u.endswith("/done") for u in urls)
    found = [leak for url, resp in w.responses for leak in leaks(url, resp)]
    for url, resp in w.responses:
        if resp.status_code in (301, 302, 303):
            found += [f"redirect to {resp.headers['Location']}"] if METHOD_RE.search(resp.headers["Location"].encode()) else []
    assert not found, "method names visible to the participant:\n" + "\n".join(found)


def test_study_files_are_not_served(client):
    for url in ("/gallery.html", "/manifest.json", "/study.toml", "/stimuli/../manifest.json"):
        assert client.get(url).status_code == 404


def test_the_bytes_served_by_the_app_carry_no_method(blind_study, tmp_path):
    """Participants fetch A and B through the survey; the served bytes and headers (length,
    ETag, caching) are attacked the same way, over every real trial of enough participants
    to cover 100+ pairs and 10+ checks."""
    from webapp.app import create_app, db_engine

    root, manifest = blind_study
    db_url = f"sqlite:///{tmp_path / 'survey.sqlite'}"
    migrate_and_import(db_url, root)
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE_URL": db_url, "RATELIMIT_ENABLED": False})
    by_name = {side["sha256"][:32]: (pair, key) for pair in manifest["pairs"] for key, side in pair["sides"].items()}
    pairs, checks = [], []
    try:
        for n in range(5):
            w = Walker(app.test_client()).begin_lab_session(f"BYTES{n}")
            while "/trial/" in (state := w.current())["next_url"]:
                view = w.get(f"/api/v1/participants/{w.token}/trials/{state['next_trial']}").get_json()
                served = {}
                for shown in ("a", "b"):
                    url = view["images"][shown]
                    resp = w.get(url)
                    assert resp.status_code == 200
                    served[shown] = {**attack.byte_features(resp.get_data()),
                                     **{f"header {k}": v for k, v in resp.headers.items()}}
                pair, key_a = by_name[view["images"]["a"].rsplit("/", 1)[1].removesuffix(".png")]
                a, b = served["a"], served["b"]
                if pair["is_attention_check"]:
                    focused_is_a = pair["expected"]["focused"] == key_a
                    checks.append((a, b) if focused_is_a else (b, a))
                else:
                    pairs.append((a, b) if pair["sides"][key_a]["method"] == "gradcam" else (b, a))
                assert w.answer(state["next_trial"]).status_code == 201
    finally:
        db_engine(app).dispose()
    best_pairs, best_checks = attack.best_rule(pairs), attack.best_rule(checks)
    assert best_pairs.n >= 100 and best_checks.n >= 10
    assert not best_pairs.beats_chance, best_pairs
    assert not best_checks.beats_chance, best_checks

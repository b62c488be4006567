"""Blinding: crawl a whole participant session and search everything the participant's
browser receives or requests (HTML, JS, CSS, JSON, headers, URLs, image bytes and their
metadata) for a method name."""
from __future__ import annotations

import re

from webapp_helpers import Walker

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

"""`camstudy import` and the webapp's sections of study.toml."""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.data.engine import make_engine
from webapp.data.importer import StudyImportError, import_study
from webapp.data.migrate import upgrade
from webapp.data.tables import Pair, Stimulus, Study
from webapp.settings import SettingsError, load_study_toml


@contextmanager
def edited_manifest(study_dir: Path) -> Iterator[dict[str, Any]]:
    """The study's manifest.json as a dict, written back once the block has changed it."""
    path = study_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    yield manifest
    path.write_text(json.dumps(manifest))


@pytest.fixture
def session(sqlite_url):
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    with Session(engine) as s:
        yield s
    engine.dispose()


@pytest.fixture
def changed_study(session, make_study) -> Path:
    """A study imported once whose manifest has changed since (a pair's class name)."""
    d = make_study()
    import_study(session, d)
    with edited_manifest(d) as m:
        m["pairs"][0]["class_name"] = "changed"
    return d


def test_import_loads_pairs_and_stimuli(session, make_study):
    r = import_study(session, make_study(n_pairs=6, n_attention=1))
    assert (r.created, r.pairs, r.attention_checks) == (True, 6, 1)
    assert session.scalar(select(func.count(Pair.id))) == 7
    assert session.scalar(select(func.count(Stimulus.id))) == 21
    check = session.scalars(select(Pair).filter_by(is_attention_check=True)).one()
    assert check.expected == {"larger": "A", "focused": "B"} and check.a_method is None


def test_import_twice_is_idempotent(session, make_study):
    d = make_study()
    import_study(session, d)
    again = import_study(session, d)
    assert not again.created and not again.settings_changed
    assert session.scalar(select(func.count(Study.id))) == 1
    assert session.scalar(select(func.count(Pair.id))) == 7


def test_changed_manifest_under_the_same_study_id_is_refused(session, changed_study):
    with pytest.raises(StudyImportError, match="already imported with a different manifest"):
        import_study(session, changed_study)


def test_rerendered_manifest_with_only_new_provenance_counts_as_unchanged(session, make_study):
    d = make_study()
    import_study(session, d)
    with edited_manifest(d) as m:
        m["created_at"], m["generator_version"] = "2026-12-01T00:00:00Z", "0.2.0"
    assert not import_study(session, d).created


def test_reimport_updates_survey_settings(session, make_study):
    d = make_study()
    import_study(session, d)
    (d / "study.toml").write_text('[survey]\ntitle = "New title"\n')
    r = import_study(session, d)
    assert r.settings_changed
    assert session.scalars(select(Study)).one().settings["survey"]["title"] == "New title"


def test_unknown_key_names_file_section_and_key(tmp_path):
    f = tmp_path / "study.toml"
    f.write_text("[model]\nwhatever = 1\n[assignment]\nratings_per_par = 5\n")
    with pytest.raises(SettingsError) as e:
        load_study_toml(f)
    msg = str(e.value)
    assert str(f) in msg and "[assignment]" in msg and "'ratings_per_par'" in msg and "ratings_per_pair" in msg


def test_wrong_value_kind_says_what_was_expected(tmp_path):
    f = tmp_path / "study.toml"
    f.write_text('[survey]\nallow_same = "yes"\n')
    with pytest.raises(SettingsError, match=r"\[survey\] allow_same must be true or false, got 'yes'"):
        load_study_toml(f)


def test_other_packages_sections_are_ignored(tmp_path):
    f = tmp_path / "study.toml"
    f.write_text("[model]\narch='x'\n[render]\nalpha=0.5\n[analysis]\nalpha=0.05\n[mturk]\nreward='1.00'\n")
    s = load_study_toml(f)
    assert s.assignment["ratings_per_pair"] == 5 and s.survey["questions"]["larger"].startswith("Which")


def test_bad_format_version_is_refused(session, make_study):
    d = make_study()
    with edited_manifest(d) as m:
        m["format_version"] = 7
    with pytest.raises(StudyImportError, match="format_version 7 is not supported"):
        import_study(session, d)


def test_missing_and_altered_stimulus_files_are_refused(session, make_study):
    d = make_study()
    files = sorted((d / "stimuli").iterdir())
    files[0].write_bytes(files[0].read_bytes() + b"x")
    with pytest.raises(StudyImportError, match="sha256 differs"):
        import_study(session, d)
    files[0].unlink()
    with pytest.raises(StudyImportError, match="is missing"):
        import_study(session, d)
    assert session.scalar(select(func.count(Study.id))) == 0


def test_question_without_text_is_refused(session, make_study):
    d = make_study()
    with edited_manifest(d) as m:
        m["questions"] = ["larger", "focused", "sharper"]
    with pytest.raises(StudyImportError, match="no text for question"):
        import_study(session, d)
    (d / "study.toml").write_text('[survey.questions]\nsharper = "Which explanation is sharper?"\n')
    assert import_study(session, d).created


def test_public_s3_urls_are_passed_to_the_browser(sqlite_url, make_study, make_app):
    d = make_study()
    with edited_manifest(d) as m:
        public_storage(m)
    for f in (d / "stimuli").iterdir():
        f.unlink()  # nothing local: the browser fetches from the bucket
    app = make_app(sqlite_url, d)
    from tests.webapp.helpers import Walker

    w = Walker(app.test_client()).begin_lab_session("S3A")
    images = w.client.get(f"/api/v1/participants/{w.token}/trials/0").get_json()["images"]
    assert all(u.startswith("https://cdn.example.org/study/stimuli/") for u in images.values())


def test_presigned_s3_storage_without_a_bucket_is_refused_clearly(session, make_study):
    d = make_study()
    with edited_manifest(d) as m:
        m["storage"] = {"kind": "s3", "url_mode": "presigned", "prefix": "p/"}
    with pytest.raises(StudyImportError, match="presigned S3 storage needs storage.bucket"):
        import_study(session, d)


def test_replace_swaps_a_changed_study_only_when_asked(session, changed_study):
    with pytest.raises(StudyImportError, match="no answers yet: pass --replace"):
        import_study(session, changed_study)
    assert import_study(session, changed_study, replace=True).created
    assert session.scalars(select(Study)).one().manifest["pairs"][0]["class_name"] == "changed"
    assert session.scalar(select(func.count(Pair.id))) == 7


def test_replace_refuses_to_drop_answers_unless_told(make_app, make_study, sqlite_url):
    from tests.webapp.helpers import Walker
    from webapp.data.tables import Response

    d = make_study()
    app = make_app(sqlite_url, d)
    w = Walker(app.test_client()).begin_lab_session("RP1")
    w.answer(-1)
    with edited_manifest(d) as m:
        m["pairs"][0]["class_name"] = "changed"
    engine = make_engine(sqlite_url)
    with Session(engine) as s:
        with pytest.raises(StudyImportError, match="has 2 answer"):
            import_study(s, d, replace=True)
        assert import_study(s, d, replace=True, discard_answers=True).created
        assert s.scalar(select(func.count(Response.id))) == 0
    engine.dispose()


# --------------------------------------------------------------------------- tampered manifests
# Each edit below is what a careless or malicious hand could do to a generated study; the
# import must refuse it, naming the pair and the field, and store nothing.


def _drop_sha_and_swap_bytes(d: Path, pair: dict) -> None:
    entry = pair["sides"]["A"]
    del entry["sha256"]
    (d / entry["file"]).write_bytes((d / pair["original"]["file"]).read_bytes())


def _same_bytes_under_another_name(d: Path, pair: dict) -> None:
    a, b = pair["sides"]["A"], pair["sides"]["B"]
    (d / b["file"]).write_bytes((d / a["file"]).read_bytes())
    b["sha256"] = a["sha256"]


def _raw_maps_as_a_stimulus(d: Path, pair: dict) -> None:
    import hashlib

    import numpy as np

    np.savez_compressed(d / "raw_maps.npz", gradcam=np.zeros((2, 2)), hirescam=np.ones((2, 2)))
    pair["sides"]["B"]["file"] = "raw_maps.npz"
    pair["sides"]["B"]["sha256"] = hashlib.sha256((d / "raw_maps.npz").read_bytes()).hexdigest()


def _set(field: str, value: Any):
    def edit(_d: Path, pair: dict) -> None:
        *parents, last = field.split(".")
        target = pair
        for key in parents:
            target = target[key]
        target[last] = value
    return edit


def _same_file(_d: Path, pair: dict) -> None:
    pair["sides"]["B"].update(file=pair["sides"]["A"]["file"], sha256=pair["sides"]["A"]["sha256"])


def _same_method(_d: Path, pair: dict) -> None:
    pair["sides"]["B"]["method"] = pair["sides"]["A"]["method"]


def _drop(field: str):
    def edit(_d: Path, pair: dict) -> None:
        *parents, last = field.split(".")
        target = pair
        for key in parents:
            target = target[key]
        del target[last]
    return edit


TAMPERED = {
    "sha256 removed, bytes replaced": (_drop_sha_and_swap_bytes, "sides.A.sha256"),
    "sha256 removed": (_drop("original.sha256"), "original.sha256"),
    "sha256 not hex": (_set("sides.B.sha256", "not-a-digest"), "sides.B.sha256"),
    "method typo": (_set("sides.A.method", "GRADCAM-typo"), "sides.A.method"),
    "method not in the manifest's methods": (_set("sides.A.method", "cam"), "sides.A.method"),
    "both sides one method": (_same_method, "sides.B.method"),
    "both sides one file": (_same_file, "sides.B.file"),
    "both sides the same bytes": (_same_bytes_under_another_name, "sides.B.sha256"),
    "raw maps listed as a stimulus": (_raw_maps_as_a_stimulus, "sides.B.file"),
    "javascript: URL": (_set("sides.A.url", "javascript:alert(document.cookie)"), "sides.A.url"),
    "javascript: URL, upper case": (_set("sides.A.url", "JavaScript:alert(1)"), "sides.A.url"),
    "javascript: URL behind a space": (_set("sides.A.url", " javascript:alert(1)"), "sides.A.url"),
    "javascript: URL split by a tab": (_set("sides.A.url", "java\tscript:alert(1)"), "sides.A.url"),
    "data: URL": (_set("sides.B.url", "data:image/png;base64,iVBORw0KGgo="), "sides.B.url"),
    "http: URL": (_set("sides.A.url", "http://cdn.example.org/a.png"), "sides.A.url"),
    "protocol-relative URL": (_set("original.url", "//evil.example/a.png"), "original.url"),
    "foreign scheme": (_set("sides.A.url", "ftp://cdn.example.org/a.png"), "sides.A.url"),
    "https: URL without a host": (_set("sides.A.url", "https:///a.png"), "sides.A.url"),
    "URL not a string": (_set("sides.A.url", ["https://cdn.example.org/a.png"]), "sides.A.url"),
    "foreign https: host": (_set("sides.B.url", "https://tracker.example.net/b.png"), "sides.B.url"),
    "method not a string": (_set("sides.A.method", ["gradcam"]), "sides.A.method"),
    "file with a NUL byte": (_set("sides.A.file", "stimuli/a\x00.png"), "sides.A.file"),
    "file outside the study": (_set("sides.A.file", "../elsewhere.png"), "sides.A.file"),
    "image_id longer than the schema allows": (_set("image_id", "i" * 201), "image_id"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_tampered_manifest_is_refused_naming_the_pair_and_field(session, make_study, case):
    edit, field = TAMPERED[case]
    d = make_study()
    with edited_manifest(d) as m:
        pair = m["pairs"][2]
        edit(d, pair)
    with pytest.raises(StudyImportError) as e:
        import_study(session, d)
    assert f"pair {pair['pair_id']!r}" in str(e.value) and field in str(e.value), str(e.value)
    assert session.scalar(select(func.count(Study.id))) == 0


def test_attention_check_sides_must_be_distinct_files_too(session, make_study):
    d = make_study()
    with edited_manifest(d) as m:
        check = next(p for p in m["pairs"] if p["is_attention_check"])
        _same_file(d, check)
    with pytest.raises(StudyImportError, match=rf"pair {check['pair_id']!r}.*sides.B.file"):
        import_study(session, d)


@pytest.mark.parametrize("url", ["stimuli/x.png", "/static/x.png"])
def test_relative_stimulus_urls_are_accepted(session, make_study, url):
    d = make_study()
    with edited_manifest(d) as m:
        m["pairs"][0]["original"]["url"] = url
    assert import_study(session, d).created
    assert session.scalar(select(func.count(Stimulus.id)).where(Stimulus.url == url)) == 1


def public_storage(m: dict, base: str = "https://cdn.example.org/study/") -> None:
    """Every stimulus at its public S3/CDN URL below ``base``, as the generator writes them."""
    m["storage"] = {"kind": "s3", "url_mode": "public", "base_url": base}
    for p in m["pairs"]:
        for entry in [p["original"], p["sides"]["A"], p["sides"]["B"]]:
            entry["url"] = base + entry["file"]


@pytest.mark.parametrize("url", ["https://cdn.example.org.tracker.example/study/x.png",
                                 "https://cdn.example.org/other-study/x.png",
                                 "https://tracker.example/https://cdn.example.org/study/x.png",
                                 "https://cdn.example.org/study/../other-study/x.png",
                                 "https://cdn.example.org/study/%2E%2E/other-study/x.png"])
def test_https_urls_outside_the_studys_storage_are_refused(session, make_study, url):
    d = make_study()
    with edited_manifest(d) as m:
        public_storage(m)
        pair = m["pairs"][1]
        pair["sides"]["A"]["url"] = url
    with pytest.raises(StudyImportError, match=rf"pair {pair['pair_id']!r} .*sides.A.url: .*(not under the study's storage.base_url|'\.\.' path segment)"):
        import_study(session, d)


@pytest.mark.parametrize("base", ["http://cdn.example.org/study/", "javascript:alert(1)//", "https:///study/"])
def test_storage_base_url_must_be_https(session, make_study, base):
    d = make_study()
    with edited_manifest(d) as m:
        public_storage(m, base)
    with pytest.raises(StudyImportError, match="storage.base_url: .* must be an https: URL with a host"):
        import_study(session, d)


def test_raw_maps_file_beside_the_manifest_is_never_served(make_app, make_study, sqlite_url):
    import numpy as np

    d = make_study()
    np.savez_compressed(d / "raw_maps.npz", gradcam=np.zeros((2, 2)))
    with edited_manifest(d) as m:
        m["raw_maps"] = "raw_maps.npz"
    client = make_app(sqlite_url, d).test_client()
    import hashlib

    digest = hashlib.sha256((d / "raw_maps.npz").read_bytes()).hexdigest()
    for name in (digest[:32], "raw_maps", "raw_maps.npz", "../raw_maps"):
        assert client.get(f"/stimuli/{name}.png").status_code == 404
    assert client.get("/raw_maps.npz").status_code == 404


def test_the_webapp_method_list_is_the_generator_registry():
    """webapp.data.manifest_check.KNOWN_METHODS is kept by hand (the webapp never imports torch):
    it must name exactly the generator's CAM methods."""
    pytest.importorskip("torch")
    from generator.cams import METHODS
    from webapp.data.manifest_check import KNOWN_METHODS

    assert set(KNOWN_METHODS) == set(METHODS)


# Pieces that change how a browser reads a URL: schemes, host and path delimiters, dot
# segments (also escaped), white space that browsers drop, other hosts, userinfo.
URL_PIECES = ["/", "//", "\\", ".", "..", "%2e", "%2E%2e", "%2f", ":", "@", "#", "?", " ", "\t", "\n",
              "javascript:", "java\tscript:", "https:", "http:", "data:", "HTTPS:", "cdn.example.org",
              "tracker.example", "study", "x.png"]
STORAGE = "https://cdn.example.org/study/"
PIECES = st.lists(st.sampled_from(URL_PIECES), max_size=8).map("".join)


@settings(max_examples=600, deadline=None)
@given(st.one_of(PIECES, PIECES.map(lambda s: STORAGE + s), PIECES.map(lambda s: "https://" + s),
                 PIECES.map(lambda s: "https://cdn.example.org" + s)))
def test_every_accepted_url_stays_on_the_survey_or_the_studys_storage(url):
    """Whatever a manifest's url says, an accepted one resolves (from a trial page) to https:
    on the survey's own host or inside the study's storage folder."""
    import posixpath
    from urllib.parse import unquote, urljoin, urlsplit

    from webapp.data.manifest_check import url_problem

    if url_problem(url, STORAGE) is not None:
        return
    resolved = urlsplit(urljoin("https://survey.example/s/token/trial/0", url))
    assert resolved.scheme == "https" and resolved.hostname in {"survey.example", "cdn.example.org"}, url
    if resolved.hostname == "cdn.example.org":
        assert (posixpath.normpath(unquote(resolved.path)) + "/").startswith("/study/"), url


def test_a_stimulus_changed_on_disk_after_import_is_not_served(make_app, make_study, sqlite_url):
    d = make_study()
    client = make_app(sqlite_url, d).test_client()
    pairs = json.loads((d / "manifest.json").read_text())["pairs"]
    side, other = pairs[0]["sides"]["A"], pairs[1]["sides"]["B"]
    original = (d / side["file"]).read_bytes()
    (d / side["file"]).write_bytes((d / other["file"]).read_bytes())
    assert client.get(f"/stimuli/{side['sha256'][:32]}.png").status_code == 404
    (d / side["file"]).write_bytes(original)
    assert client.get(f"/stimuli/{side['sha256'][:32]}.png").status_code == 200

"""Helpers for the survey web app tests: a small study directory without torch, put into a
database; a walker that takes a participant through the survey as the browser and
survey.js do; servers on loopback and a recorder of a real browser's script errors."""
from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from PIL import Image, ImageDraw, ImageOps, PngImagePlugin

METHODS = ("gradcam", "hirescam")


def _png(path: Path, seed: int, text: dict[str, str] | None = None, size: int = 32,
         spread: float | None = None) -> str:
    """A small shape image, or (with ``spread``) the same shape under a heat-map blob."""
    bg = (235 - seed % 20, 232, 225)
    img = Image.new("RGB", (size, size), bg)
    draw = ImageDraw.Draw(img)
    c, r = size // 2 + (seed % 7) - 3, size // 4
    fill = ((seed * 37) % 200, (seed * 91) % 200, (seed * 53) % 200)
    draw.ellipse([c - r, c - r, c + r, c + r], fill=fill) if seed % 2 else draw.rectangle([c - r, c - r, c + r, c + r], fill=fill)
    if spread is not None:
        blob = Image.radial_gradient("L").resize((int(size * spread),) * 2)
        heat_l = Image.new("L", (size, size), 255)
        heat_l.paste(blob, ((size - blob.width) // 2, (size - blob.height) // 2))
        heat = ImageOps.colorize(heat_l, black="red", mid="yellow", white="blue")
        img = Image.blend(img, heat, 0.5)
    info = PngImagePlugin.PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    img.save(path, pnginfo=info)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_study(
    root: Path,
    n_pairs: int = 6,
    n_attention: int = 1,
    study_id: str = "test-study",
    toml: str | None = None,
    leak_metadata: bool = False,
    size: int = 32,
    checks_on_study_images: bool = False,
) -> Path:
    """A study directory in the manifest format of docs/formats.md, with tiny PNGs.

    ``checks_on_study_images`` draws the attention checks on the images of the first real
    pairs (same ``image_id``), as the generator does; otherwise each has an image of its own.

    ``leak_metadata`` writes the method name into each overlay's PNG text chunks, as a
    careless generator might: the app must not pass that on.
    """
    d = root / study_id
    (d / "stimuli").mkdir(parents=True)
    seed = 0

    def stim(method: str | None = None, shape: int = 0, overlay: bool = False) -> dict[str, Any]:
        nonlocal seed
        seed += 1
        name = f"stimuli/{secrets.token_urlsafe(9)}.png"
        text = {"Comment": f"method={method}", "Software": f"{method} renderer"} if leak_metadata and method else None
        spread = (1.3 if method == "gradcam" else 0.7 if method == "hirescam" else 0.5 + (seed % 5) / 5) if overlay else None
        return {"file": name, "sha256": _png(d / name, shape, text, size, spread), "url": None}

    pairs = []
    for i in range(n_pairs + n_attention):
        attention = i >= n_pairs
        a_method, b_method = (None, None) if attention else (METHODS[i % 2], METHODS[(i + 1) % 2])
        pairs.append({
            "pair_id": secrets.token_urlsafe(8),
            "image_id": f"img_{(i - n_pairs if attention and checks_on_study_images else i):05d}",
            "class_index": i % 3,
            "class_name": ["circle", "square", "triangle"][i % 3],
            "logit": 3.2, "probability": 0.96,
            "is_attention_check": attention,
            "expected": {"larger": "A", "focused": "B"} if attention else None,
            "original": stim(shape=i),
            "sides": {
                "A": {**stim(a_method, i, True), "method": a_method, "metrics": {"area_above_half": 0.1}},
                "B": {**stim(b_method, i, True), "method": b_method, "metrics": {"area_above_half": 0.2}},
            },
        })
    manifest = {
        "format_version": 1, "kind": "camstudy-manifest", "study_id": study_id,
        "created_at": "2026-11-22T10:00:00Z", "generator_version": "test",
        "seeds": {"sample": 0, "sides": 0, "names": 0, "attention": 0}, "device": "cpu",
        "model": {"arch": "demo_cnn", "num_classes": 3, "class_names": ["circle", "square", "triangle"]},
        "target_layer": "features", "methods": list(METHODS), "questions": ["larger", "focused"],
        "render": {"width": 32, "height": 32, "format": "png", "show_original": True},
        "storage": {"kind": "local", "url_mode": "relative", "base_url": None},
        "summary": {"pairs": n_pairs, "attention_checks": n_attention, "skipped_images": []},
        "pairs": pairs,
    }
    (d / "manifest.json").write_text(json.dumps(manifest, indent=1))
    (d / "gallery.html").write_text("<html>gradcam hirescam (never served)</html>")
    (d / "study.toml").write_text(toml if toml is not None else (
        "[model]\narch = 'demo_cnn'\n\n[survey]\npractice_trials = 1\n\n"
        "[assignment]\nratings_per_pair = 3\npairs_per_participant = 4\nattention_checks_per_participant = 1\n"
    ))
    return d


def import_into(db_url: str, study_dir: Path, **kwargs: Any):
    """Import a study directory into the (migrated) database at db_url, as `camstudy import` does."""
    from sqlalchemy.orm import Session

    from webapp.data.engine import make_engine
    from webapp.data.importer import import_study

    engine = make_engine(db_url)
    try:
        with Session(engine) as s:
            return import_study(s, study_dir, **kwargs)
    finally:
        engine.dispose()


def migrate_and_import(db_url: str, study_dir: Path) -> None:
    """Bring the database at db_url to the newest schema, then import the study directory."""
    from webapp.data.migrate import upgrade

    upgrade(db_url)
    import_into(db_url, study_dir)


def assert_crowd_sections_refused(study_dir: Path, match: str) -> None:
    """The study's study.toml is refused, when its crowd sections are read, with an error matching ``match``."""
    import pytest  # here, not above: benchmarks/load_test.py imports this module without pytest

    from webapp.settings import load_crowd_sections
    from webapp.settings import SettingsError

    with pytest.raises(SettingsError, match=match):
        load_crowd_sections(study_dir / "study.toml")


def reset_postgres(url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@contextmanager
def serving(server) -> Iterator[Any]:
    """Run an http.server or werkzeug server in a daemon thread for the length of the block."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def record_problems(page) -> list[str]:
    """Collect the page's console errors and uncaught script errors (CSP violations show as
    console errors) into the returned list, as they happen."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    return problems


def begin_lab_session_in_browser(page, base: str, participant_id: str, lab_password: str | None = None) -> None:
    """In a real browser, as a participant would: the lab page (unlocked with ``lab_password``
    first, as on a server under --prod), then consent and instructions."""
    page.goto(f"{base}/lab")
    if lab_password:
        page.get_by_label("Lab password").fill(lab_password)
        page.get_by_role("button", name="Unlock").click()
    page.get_by_label("Participant id").fill(participant_id)
    page.get_by_role("button", name="Start session").click()
    pass_consent_and_instructions(page)


def pass_consent_and_instructions(page) -> None:
    """From the welcome page of a page or frame: Continue, tick "I agree", Start, the
    instructions' practice rounds, Continue."""
    page.get_by_role("link", name="Continue").click()
    page.get_by_label("I agree").check()
    page.get_by_role("button", name="Start").click()
    # the instructions page has loaded (its Continue button is there, disabled until the
    # practice is done) before the practice rounds are counted: counting during the
    # navigation found none and left Continue disabled
    page.get_by_role("button", name="Continue").wait_for(state="attached")
    finish_practice(page)
    page.get_by_role("button", name="Continue").click()


def finish_practice(page, side: str = "Image A") -> None:
    """Answer every practice round of the instructions with ``side`` and check it."""
    rounds = page.locator("form.practice-round")
    if rounds.count():
        page.get_by_text("Finish the practice above to continue.").wait_for()  # its script is running
    for i in range(rounds.count()):
        current = rounds.nth(i)
        for radio in current.get_by_role("radio", name=side).all():
            radio.check()
        current.get_by_role("button", name="Check my answers").click()
        if i + 1 < rounds.count():
            current.get_by_role("button", name="Next example").click()


CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_of(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "no CSRF token in the form"
    return m.group(1) or m.group(2)


class Walker:
    """Takes a participant through the survey with the Flask test client, as the
    browser and survey.js would, keeping every response for inspection."""

    def __init__(self, client, responses: list | None = None) -> None:
        self.client = client
        self.responses = responses if responses is not None else []
        self.token: str | None = None

    def get(self, url: str, **kw):
        r = self.client.get(url, **kw)
        self.responses.append((url, r))
        return r

    def post(self, url: str, **kw):
        r = self.client.post(url, **kw)
        self.responses.append((url, r))
        return r

    def form(self, url: str, data: dict[str, Any] | None = None):
        page = self.get(url)
        assert page.status_code == 200, page.get_data(as_text=True)
        return self.post(url, data={"csrf_token": csrf_of(page.get_data(as_text=True)), **(data or {})})

    def start_lab(self, participant_id: str = "P001") -> str:
        r = self.form("/lab", {"participant_id": participant_id})
        assert r.status_code == 302, r.get_data(as_text=True)
        self.token = r.headers["Location"].split("/s/")[1].split("/")[0]
        return self.token

    def begin_lab_session(self, participant_id: str = "P001") -> "Walker":
        """Start a lab session and pass consent and instructions: a trial is next."""
        self.start_lab(participant_id)
        self.consent_and_instructions()
        return self

    def consent_and_instructions(self) -> None:
        self.get(f"/s/{self.token}/")
        r = self.form(f"/s/{self.token}/consent", {"agree": "y"})
        assert r.status_code == 302 and r.headers["Location"].endswith("/instructions"), r.get_data(as_text=True)
        r = self.form(f"/s/{self.token}/instructions")
        assert r.status_code == 302

    def current(self) -> dict[str, Any]:
        return self.client.get(f"/api/v1/participants/{self.token}").get_json()

    def answer(self, index: int, sides: dict[str, str] | None = None, key: str | None = None, rt: int = 900):
        sides = sides or {"larger": "A", "focused": "B"}
        body = {"idempotency_key": key or secrets.token_hex(8),
                "answers": [{"question_id": q, "side": s, "rt_ms": rt} for q, s in sides.items()]}
        return self.post(f"/api/v1/participants/{self.token}/trials/{index}/answers", json=body)

    def fetch_page_and_assets(self, url: str) -> str:
        page = self.get(url)
        html = page.get_data(as_text=True)
        for asset in re.findall(r'(?:src|href)="(/[^"]+)"', html):
            self.get(asset)
        return html

    def finish(self, sides: dict[str, str] | None = None) -> None:
        """Answer every remaining trial through the pages, then the questionnaire."""
        for _ in range(200):
            state = self.current()
            url = state["next_url"]
            if "/trial/" in url:
                self.fetch_page_and_assets(url)
                r = self.answer(state["next_trial"], sides)
                assert r.status_code == 201, r.get_json()
            elif url.endswith("/questionnaire"):
                r = self.form(url, {"familiarity": "some", "comments": "fine"})
                assert r.status_code == 302
            else:
                assert url.endswith("/done")
                self.fetch_page_and_assets(url)
                return
        raise AssertionError("survey did not end")


def add_extra_trials(app) -> None:
    """One real and one practice trial more for the first participant than the settings
    allow (what crowdsim's audit must report as over-allocation)."""
    from sqlalchemy import insert, select

    from webapp.data.engine import db
    from webapp.data.tables import Trial

    with app.app_context():
        first = db.session.scalars(select(Trial).order_by(Trial.trial_index)).first()
        base = {"participant_pk": first.participant_pk, "pair_pk": first.pair_pk, "is_attention_check": False,
                "swapped": False, "left_method": "gradcam", "right_method": "hirescam"}
        db.session.execute(insert(Trial), [{**base, "trial_index": 900, "image_id": "extra-1", "is_practice": False},
                                           {**base, "trial_index": -90, "image_id": "extra-2", "is_practice": True}])
        db.session.commit()

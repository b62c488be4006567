"""The instructions' illustrations and practice, the new [survey] keys, and declining,
through Flask's test client (the browser tests cover what a participant sees)."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from tests.webapp.helpers import csrf_of
from webapp.data.engine import db
from webapp.data.tables import Participant
from webapp.settings import SettingsError, parse_sections
from webapp.survey import examples


@pytest.mark.parametrize("survey, named", [
    ("practice_examples = 4", "practice_examples"),
    ("examples = 'yes'", "examples"),
    ("definitions = { larger = '' }", "definitions"),
    ("contact_text = 3", "contact_text"),
])
def test_bad_teaching_settings_are_refused_naming_the_key(survey, named):
    import tomllib

    with pytest.raises(SettingsError, match=rf"\[survey\] {named} must be"):
        parse_sections(tomllib.loads(f"[survey]\n{survey}\n"), "study.toml")


def test_definitions_merge_with_the_defaults_and_contact_has_a_default_that_asks_to_set_it():
    s = parse_sections({"survey": {"definitions": {"larger": "More colour."}}}, "study.toml").survey
    assert s["definitions"]["larger"] == "More colour." and "compact spot" in s["definitions"]["focused"]
    assert "contact_text" in s["contact_text"]  # the default names the key to set


def test_practice_does_not_teach_that_the_larger_side_is_the_less_focused_one():
    rounds = [answers for _, _, answers in examples.PRACTICE]
    assert any(a["larger"] == a["focused"] for a in rounds) and any(a["larger"] != a["focused"] for a in rounds)
    for a, b, answers in examples.PRACTICE:  # each right answer is clear-cut in the drawn maps
        area = {side: (examples.heat_map(examples.MAPS[n]) > 0.5).mean() for side, n in (("A", a), ("B", b))}
        bigger = max(area, key=area.get)
        assert answers["larger"] == bigger and area[bigger] > 2.5 * min(area.values())


def test_illustrations_are_pngs_in_the_requested_colormap_and_unknown_ones_are_404(client):
    r = client.get("/examples/inferno/50/scale.png")
    assert r.status_code == 200 and r.mimetype == "image/png"
    pixels = np.asarray(Image.open(io.BytesIO(r.data)).convert("RGB"))
    assert np.abs(pixels[5, -1] - examples.overlay(np.array([1.0]), "inferno", 0.5, np.full((1, 3), 228.0))[0]).max() <= 1
    assert client.get("/examples/rainbow/50/scale.png").status_code == 404
    assert client.get("/examples/jet/101/scale.png").status_code == 404
    assert client.get("/examples/jet/50/gradcam.png").status_code == 404


def test_decline_needs_the_form_token_and_is_ignored_after_consent(app, walker):
    walker.start_lab("DEC1")
    assert walker.post(f"/s/{walker.token}/decline", data={}).status_code in (302, 400)
    with app.app_context():
        assert db.session.scalar(select(Participant.declined_at).filter_by(participant_id="DEC1")) is None
    page = walker.get(f"/s/{walker.token}/consent").get_data(as_text=True)
    r = walker.post(f"/s/{walker.token}/decline", data={"csrf_token": csrf_of(page)})
    assert r.status_code == 302 and r.headers["Location"].endswith("/declined")
    assert walker.get(f"/s/{walker.token}/consent").headers["Location"].endswith("/declined")
    assert walker.current()["next_url"].endswith("/declined")

    walker.start_lab("DEC2")  # consented: a late decline changes nothing
    walker.form(f"/s/{walker.token}/consent", {"agree": "y"})
    page = walker.get(f"/s/{walker.token}/instructions").get_data(as_text=True)
    r = walker.post(f"/s/{walker.token}/decline", data={"csrf_token": csrf_of(page)})
    assert r.headers["Location"].endswith("/instructions")
    with app.app_context():
        assert db.session.scalar(select(Participant.declined_at).filter_by(participant_id="DEC2")) is None

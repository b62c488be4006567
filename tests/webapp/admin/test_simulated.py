"""The admin area marks simulated participants (camstudy simulate, ids 'sim-…'), over real HTTP."""
from __future__ import annotations

import json
import re

import pytest
import requests

from tests.webapp.helpers import csrf_of

TOKEN = "tok-admin-123456"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def live(make_app, make_study, sqlite_url, serve_live):
    """(base URL, study dir): the app on a loopback port, admin token set."""
    study = make_study()
    return serve_live(make_app(sqlite_url, study, CAMSTUDY_ADMIN_TOKEN=TOKEN)), study


def start_person(base: str, participant_id: str) -> None:
    with requests.Session() as s:
        page = s.get(f"{base}/lab", timeout=10)
        r = s.post(f"{base}/lab", data={"csrf_token": csrf_of(page.text), "participant_id": participant_id},
                   allow_redirects=False, timeout=10)
        assert r.status_code == 302, r.text


def participant_rows(html: str) -> dict[str, str]:
    """Participant id -> its table row's HTML."""
    body = html.split("<h2>Participants</h2>")[1].split("</table>")[0]
    return {re.search(r"<td>([^<\s]+)", row).group(1): row for row in body.split("<tr")[2:]}


def test_dashboard_marks_simulated_participants_and_counts_them(live):
    from crowdsim import simulate

    base, study = live
    manifest = json.loads((study / "manifest.json").read_text())
    result = simulate(base, 3, manifest=manifest, concurrency=3, max_seconds=60, run_id="adm")
    assert not result.errors and all(p.completed for p in result.participants)
    start_person(base, "P001")

    html = requests.get(f"{base}/admin/", headers=AUTH, timeout=10).text
    assert re.search(r'<span data-count="simulated">3</span> of <span data-count="participants">4</span> '
                     r"participants are simulated", html)
    rows = participant_rows(html)
    assert set(rows) == {"P001", "sim-adm-00000", "sim-adm-00001", "sim-adm-00002"}
    assert all('<span class="badge">simulated</span>' in rows[pid] for pid in rows if pid.startswith("sim-"))
    assert "simulated" not in rows["P001"]

    counts = requests.get(f"{base}/admin/api/counts", headers=AUTH, timeout=10).json()
    assert counts["simulated"] == 3 and counts["participants"] == 4


def test_dashboard_without_simulated_participants_says_nothing_about_them(live):
    base, _ = live
    start_person(base, "P001")
    html = requests.get(f"{base}/admin/", headers=AUTH, timeout=10).text
    assert "P001" in html and "simulated" not in html
    assert requests.get(f"{base}/admin/api/counts", headers=AUTH, timeout=10).json()["simulated"] == 0

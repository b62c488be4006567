"""One simulated participant: a cookie-keeping HTTP client that walks the survey as a
browser does.

It takes the same path as a person in the lab: ``/lab`` (CSRF form, the given
participant id) → landing → consent → instructions → the first trial page, then every
trial as ``static/survey.js`` shows it (images fetched once, like a browser cache, and
the next trial's prefetch; answers POSTed as JSON with one idempotency key per trial,
reused on every retry after a 429, a 5xx or a dropped connection; the next trial taken
from the POST's reply, a new page only where survey.js loads one) → questionnaire →
completion page. What it was told is kept in a ``ParticipantResult`` (the
acknowledged answers, for ``crowdsim.audit``).
"""
from __future__ import annotations

import html
import math
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlparse

import requests

from crowdsim.behaviour import ResponseModel, StudyView, choose

USER_AGENT = "camstudy-simulator/1 (simulated participant)"
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
IMG_RE = re.compile(r'<img[^>]*\ssrc="([^"]+)"')
PREFETCH_RE = re.compile(r'<link rel="prefetch" href="([^"]+)" as="image">')
ASSET_RE = re.compile(r'<(?:script|link)[^>]*(?:src|href)="(/static/[^"]+)"')
FIELDSET_RE = re.compile(r'data-question="([^"]+)">(.*?)</fieldset>', re.S)
OPTION_RE = re.compile(r'type="radio" name="[^"]+" value="([^"]+)"')
ANSWER_URL_RE = re.compile(r'data-answer-url="([^"]+)"')
CODE_RE = re.compile(r'class="code"[^>]*>\s*([A-Z0-9]+)\s*<')


SECURE_COOKIE_OVER_HTTP = (
    "{url} sends its session cookie with the Secure flag (camstudy serve --prod expects HTTPS in front), "
    "and an HTTP client does not send such a cookie back over plain http://, so every form would be refused "
    "(HTTP 400). Use the survey's https:// address, or, for a local test only, start the server with "
    "CAMSTUDY_COOKIE_SECURE=0 (docs/deploying.md)")


class SimulationError(Exception):
    """The survey did something a browser could not get past (e.g. an unexpected page)."""


@dataclass
class Ack:
    trial_index: int
    idempotency_key: str
    sides: dict[str, str]
    status: int  # 201 saved, 200 already saved (a retry whose first try got through)


@dataclass
class ParticipantResult:
    participant_id: str
    token: str | None = None
    acks: list[Ack] = field(default_factory=list)
    completed: bool = False
    full: bool = False
    completion_code: str | None = None
    error: str | None = None
    retries: int = 0
    status_5xx: int = 0


@dataclass
class Timings:
    """Latencies in seconds, by kind: 'answer' (the POST), 'page' (an HTML page), 'image'."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    samples: dict[str, list[float]] = field(default_factory=dict)

    def add(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.samples.setdefault(kind, []).append(seconds)

    def percentile(self, kind: str, q: float) -> float | None:
        xs = sorted(self.samples.get(kind, []))
        if not xs:
            return None
        return xs[min(len(xs) - 1, max(0, math.ceil(q / 100 * len(xs)) - 1))]


@dataclass(frozen=True)
class ClientOptions:
    retries: int = 8  # per request, like survey.js's backoff but bounded
    backoff_s: float = 0.2
    max_backoff_s: float = 3.0
    timeout_s: float = 30.0
    lab_password: str | None = None
    forwarded_for: bool = False  # pose as a proxy: each participant gets its own X-Forwarded-For
    think_s: float = 0.0  # pause per trial (a person looks at the images)
    trust_env: bool = True  # requests reads proxies/.netrc from the environment (off: less client CPU)


class SimulatedParticipant:
    def __init__(self, base_url: str, participant_id: str, model: ResponseModel, view: StudyView,
                 timings: Timings, opts: ClientOptions, seed: int, deadline: float) -> None:
        self.base = base_url.rstrip("/") + "/"
        self.model, self.view, self.timings, self.opts = model, view, timings, opts
        self.rng = random.Random(seed)
        self.deadline = deadline
        self.result = ParticipantResult(participant_id)
        self.http = requests.Session()
        self.http.headers["User-Agent"] = USER_AGENT
        self.http.trust_env = opts.trust_env
        if opts.forwarded_for:
            self.http.headers["X-Forwarded-For"] = f"10.{seed >> 16 & 255}.{seed >> 8 & 255}.{seed & 255}"
        self.cache: set[str] = set()  # what the browser cache holds (static files, immutable images)

    # -- HTTP with retries (same request, same body: the idempotency key makes a retry safe)

    def request(self, method: str, url: str, kind: str | None = None, **kw: Any) -> requests.Response:
        url = urljoin(self.base, url)
        kw.setdefault("timeout", self.opts.timeout_s)
        kw.setdefault("allow_redirects", False)
        last: str = ""
        for attempt in range(self.opts.retries + 1):
            if time.monotonic() > self.deadline:
                raise SimulationError(f"time is up ({last or 'no answer yet'})")
            if attempt:
                self.result.retries += 1
                time.sleep(min(self.opts.max_backoff_s, self.opts.backoff_s * 2 ** (attempt - 1)))
            started = time.perf_counter()
            try:
                resp = self.http.request(method, url, **kw)
            except requests.RequestException as exc:  # dropped connection, refused, timeout
                last = f"{method} {urlparse(url).path}: {type(exc).__name__}"
                continue
            if resp.status_code >= 500:
                self.result.status_5xx += 1
                last = f"{method} {urlparse(url).path}: HTTP {resp.status_code}"
                continue
            if resp.status_code == 429:
                last = f"{method} {urlparse(url).path}: HTTP 429"
                continue
            if kind:
                self.timings.add(kind, time.perf_counter() - started)
            return resp
        raise SimulationError(f"gave up after {self.opts.retries + 1} tries: {last}")

    def page(self, url: str) -> tuple[str, requests.Response]:
        resp = self.request("GET", url, "page")
        text = resp.text
        for asset in ASSET_RE.findall(text):
            self.fetch_once(asset, None)
        return text, resp

    def fetch_once(self, url: str, kind: str | None) -> None:
        url = html.unescape(url)
        if url in self.cache:
            return
        resp = self.request("GET", url, kind, allow_redirects=True)
        if resp.status_code != 200:
            raise SimulationError(f"GET {urlparse(url).path}: HTTP {resp.status_code}")
        self.cache.add(url)

    def form(self, url: str, data: dict[str, str], text: str | None = None) -> requests.Response:
        """Fill in the form on ``url`` (``text``: that page, when it was just fetched)."""
        if text is None:
            text, resp = self.page(url)
            if resp.status_code != 200:
                raise SimulationError(f"GET {url}: HTTP {resp.status_code}")
            self.check_cookies(resp)
        m = CSRF_RE.search(text)
        if not m:
            raise SimulationError(f"no form on {url}")
        return self.request("POST", url, "page", data={"csrf_token": html.unescape(m.group(1) or m.group(2)), **data})

    def check_cookies(self, resp: requests.Response) -> None:
        """A Secure cookie over plain http:// is never sent back, so every form would fail
        its CSRF check with a bare HTTP 400: say why, and what fixes it, instead."""
        if urlparse(self.base).scheme == "http" and any(c.secure for c in resp.cookies):
            raise SimulationError(SECURE_COOKIE_OVER_HTTP.format(url=self.base.rstrip("/")))

    @staticmethod
    def location(resp: requests.Response, what: str) -> str:
        if resp.status_code not in (302, 303) or "Location" not in resp.headers:
            raise SimulationError(f"{what}: expected a redirect, got HTTP {resp.status_code}")
        return urlparse(resp.headers["Location"]).path

    # -- the survey

    def run(self) -> ParticipantResult:
        try:
            self.take_part()
        except SimulationError as exc:
            self.result.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - report, never kill the whole simulation
            self.result.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.http.close()
        return self.result

    def start(self) -> str:
        text: str | None
        text, resp = self.page("lab")
        self.check_cookies(resp)
        if resp.status_code == 403 or 'name="password"' in text:
            if not self.opts.lab_password:
                raise SimulationError("/lab is locked (a server with crowd sources or --prod needs the lab "
                                      "password): pass --lab-password, the server's CAMSTUDY_LAB_PASSWORD")
            # unlocked for this cookie: two more requests per participant
            self.location(self.form("lab", {"password": self.opts.lab_password}, text), "lab password")
            text = None  # the id form comes next
        elif resp.status_code != 200:
            raise SimulationError(f"GET lab: HTTP {resp.status_code}")
        resp = self.form("lab", {"participant_id": self.result.participant_id}, text)
        where = self.location(resp, "lab start")
        m = re.fullmatch(r"/s/([A-Za-z0-9_\-]+)/", where)
        if not m:
            raise SimulationError(f"lab start went to {where}")
        self.result.token = m.group(1)
        return where

    def take_part(self) -> None:
        where = self.start()
        token = self.result.token
        for _ in range(10_000):  # bounded: a survey has at most ~1000 trials
            if where == f"/s/{token}/":
                text, resp = self.page(where)
                where = self.location(resp, "landing") if resp.status_code == 302 else f"/s/{token}/consent"
            elif where.endswith("/consent"):
                resp = self.form(where, {"agree": "y"})
                if resp.status_code == 200:  # the study is full: every pair has its ratings
                    self.result.full = True
                    return
                where = self.location(resp, "consent")
            elif where.endswith("/instructions"):
                where = self.location(self.form(where, {}), "instructions")
            elif "/trial/" in where:
                where = self.trial(where)
            elif where.endswith("/questionnaire"):
                where = self.location(self.form(where, {"familiarity": "some", "comments": ""}), "questionnaire")
            elif where.endswith("/done"):
                text, resp = self.page(where)
                if resp.status_code != 200:
                    raise SimulationError(f"completion page: HTTP {resp.status_code}")
                m = CODE_RE.search(text)
                self.result.completion_code = m.group(1) if m else None
                self.result.completed = True
                return
            else:
                raise SimulationError(f"unexpected page {where}")
        raise SimulationError("the survey did not end")

    def trial(self, where: str) -> str:
        """A trial page, then every following trial the page shows in place (as survey.js
        does with the answer POST's ``next_trial``); returns where the survey goes next."""
        text, resp = self.page(where)
        if resp.status_code in (302, 303):
            return self.location(resp, "trial")
        if resp.status_code != 200:
            raise SimulationError(f"GET {where}: HTTP {resp.status_code}")
        m = ANSWER_URL_RE.search(text)
        if not m:
            raise SimulationError(f"{where}: no trial form")
        fieldsets = FIELDSET_RE.findall(text)
        view = {
            "answer_url": html.unescape(m.group(1)),
            "images": [html.unescape(u) for u in IMG_RE.findall(text)],
            "questions": [q for q, _ in fieldsets],
            "options": OPTION_RE.findall(fieldsets[0][1]) if fieldsets else ["A", "B"],
            "preload": [html.unescape(u) for u in PREFETCH_RE.findall(text)],
            "is_practice": 'data-practice="true"' in text,
        }
        for _ in range(10_000):
            data = self.answer(view)
            following = data.get("next_trial")
            if not following:
                return urlparse(data["next_url"]).path
            images = following["images"]
            shown = {
                "answer_url": following["answer_url"],
                "images": [images[k] for k in ("original", "a", "b") if images.get(k)],
                "questions": [q["id"] for q in following["questions"]],
                "options": following["options"],
                "preload": following["preload"],
                "is_practice": following["is_practice"],
            }
            # survey.js shows it in place only if it fits the page's layout, else loads next_url
            if any(shown[k] != view[k] for k in ("questions", "options", "is_practice")) \
                    or len(shown["images"]) != len(view["images"]):
                return urlparse(data["next_url"]).path
            view = shown
        raise SimulationError("the trials did not end")

    def answer(self, view: dict[str, Any]) -> dict[str, Any]:
        """Look at one trial (its images, then the next trial's prefetch) and POST the answers.

        Paced (``think_s``), the reported rt_ms is the time actually spent on the trial, as
        a browser measures it; at full speed it is the response model's human-looking
        number, which is what a script would claim (the server's own clock tells)."""
        shown = time.monotonic()
        for url in view["images"]:
            self.fetch_once(url, "image")
        sides = choose(self.model, self.view, self.rng, view["images"], view["questions"], view["options"])
        for url in view["preload"]:
            self.fetch_once(url, "image")
        if self.opts.think_s:
            time.sleep(self.rng.uniform(0.5, 1.5) * self.opts.think_s)
        key = uuid.uuid4().hex  # one per trial, reused on every retry (survey.js keeps it in sessionStorage)

        def rt_ms() -> int:
            return int((time.monotonic() - shown) * 1000) if self.opts.think_s else self.model.rt_ms(self.rng)

        body = {"idempotency_key": key,
                "answers": [{"question_id": q, "side": s, "rt_ms": rt_ms()} for q, s in sides.items()]}
        resp = self.request("POST", view["answer_url"], "answer", json=body)
        if resp.status_code not in (200, 201):
            raise SimulationError(f"answer to {view['answer_url']}: HTTP {resp.status_code} {resp.text[:200]}")
        index = int(view["answer_url"].rstrip("/").split("/")[-2])
        self.result.acks.append(Ack(index, key, sides, resp.status_code))
        return resp.json()

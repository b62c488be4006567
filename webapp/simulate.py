"""Simulated participants that take a running survey over HTTP, as a browser does.

``camstudy simulate --url URL --participants N [--manifest study/manifest.json]``

Each simulated participant is a cookie-keeping HTTP client that walks the same path as
a person in the lab: ``/lab`` (CSRF form, participant id ``sim-<run>-<n>``) → landing →
consent → instructions → the first trial page, then every trial as ``static/survey.js``
shows it (images fetched once, like a browser cache, and the next trial's prefetch;
answers POSTed as JSON with one idempotency key per trial, reused on every retry after a
429, a 5xx or a dropped connection; the next trial taken from the POST's reply, a new
page only where survey.js loads one) → questionnaire → completion page. Nothing is written to the database
except through those requests, so everything they store is marked as simulated by
its participant id prefix ``sim-``.

The response model: the person "sees" which method is on which side through the
study's manifest (stimulus names are content hashes, keys are file names), chooses
Grad-CAM for question ``q`` with probability ``p_gradcam[q]``, "About the same" with
``p_same`` where offered, and answers attention checks correctly with
``attention_accuracy``. Without a manifest every answer is a fair coin.
"""
from __future__ import annotations

import argparse
import html
import json
import math
import random
import re
import secrets
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urljoin, urlparse

import requests
from tqdm import tqdm

from webapp import SIM_PREFIX

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


# --------------------------------------------------------------------------- response model


@dataclass(frozen=True)
class ResponseModel:
    p_gradcam: dict[str, float] = field(default_factory=lambda: {"larger": 0.7, "focused": 0.35})
    p_same: float = 0.05
    attention_accuracy: float = 0.95
    rt_median_ms: int = 1800

    def rt_ms(self, rng: random.Random) -> int:
        return max(150, int(self.rt_median_ms * math.exp(rng.gauss(0, 0.5))))


class StudyView:
    """What the manifest says about an image URL: its method (None for a check) and pair."""

    def __init__(self, manifest: dict[str, Any] | None) -> None:
        self.by_key: dict[str, tuple[str | None, dict[str, Any], str]] = {}
        for pair in (manifest or {}).get("pairs", []):
            for side in ("A", "B"):
                entry = pair["sides"][side]
                info = (entry.get("method"), pair, side)
                if entry.get("sha256"):
                    self.by_key[entry["sha256"][:32]] = info
                if entry.get("file"):
                    self.by_key[PurePosixPath(entry["file"]).name] = info

    def lookup(self, url: str) -> tuple[str | None, dict[str, Any], str] | None:
        name = PurePosixPath(urlparse(url).path).name
        return self.by_key.get(name) or self.by_key.get(name.removesuffix(".png"))


def choose(model: ResponseModel, view: StudyView, rng: random.Random, images: list[str],
           questions: list[str], options: list[str]) -> dict[str, str]:
    """The sides this simulated person picks for one trial (images: [original?,] A, B)."""
    a, b = (view.lookup(images[-2]), view.lookup(images[-1])) if len(images) >= 2 else (None, None)
    out = {}
    for q in questions:
        if a and b and a[0] is None and q in (a[1].get("expected") or {}):  # attention check
            right = a[1]["expected"][q]
            wrong = [o for o in options if o != right]
            out[q] = right if rng.random() < model.attention_accuracy or not wrong else rng.choice(wrong)
        elif "same" in options and rng.random() < model.p_same:
            out[q] = "same"
        elif a and b and {a[0], b[0]} >= {"gradcam"} and a[0] != b[0]:
            gradcam_side = "A" if a[0] == "gradcam" else "B"
            other = "B" if gradcam_side == "A" else "A"
            out[q] = gradcam_side if rng.random() < model.p_gradcam.get(q, 0.5) else other
        else:
            out[q] = rng.choice(["A", "B"])
    return out


# --------------------------------------------------------------------------- one participant


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


# --------------------------------------------------------------------------- many participants


@dataclass
class SimulationResult:
    participants: list[ParticipantResult]
    timings: Timings
    seconds: float
    run_id: str

    @property
    def answers(self) -> int:
        return sum(len(p.acks) for p in self.participants)

    @property
    def errors(self) -> list[str]:
        return [f"{p.participant_id}: {p.error}" for p in self.participants if p.error]

    def summary(self) -> dict[str, Any]:
        t = self.timings

        def ms(kind: str, q: float) -> float | None:
            v = t.percentile(kind, q)
            return None if v is None else round(v * 1000, 1)

        return {
            "run_id": self.run_id,
            "participants": len(self.participants),
            "completed": sum(p.completed for p in self.participants),
            "study_full": sum(p.full for p in self.participants),
            "answers_acknowledged": self.answers,
            "seconds": round(self.seconds, 2),
            "answers_per_s": round(self.answers / self.seconds, 1) if self.seconds else None,
            "answer_post_ms": {f"p{q}": ms("answer", q) for q in (50, 95, 99)},
            "page_ms": {f"p{q}": ms("page", q) for q in (50, 95, 99)},
            "image_ms": {f"p{q}": ms("image", q) for q in (50, 95, 99)},
            "requests": {k: len(v) for k, v in t.samples.items()},
            "retries": sum(p.retries for p in self.participants),
            "status_5xx": sum(p.status_5xx for p in self.participants),
            "errors": self.errors[:20],
            "error_count": len(self.errors),
        }


def simulate(url: str, participants: int, model: ResponseModel | None = None,
             manifest: dict[str, Any] | None = None, concurrency: int = 10,
             opts: ClientOptions | None = None, max_seconds: float = 600.0,
             run_id: str | None = None, seed: int = 0, progress: bool = False) -> SimulationResult:
    """Run ``participants`` simulated participants, ``concurrency`` at a time
    (``progress``: a progress bar with the rate on stderr, when it is a terminal)."""
    if participants < 0 or concurrency < 1:
        raise ValueError("participants must be >= 0 and concurrency >= 1")
    model, opts = model or ResponseModel(), opts or ClientOptions()
    run_id = run_id or secrets.token_hex(3)
    view, timings = StudyView(manifest), Timings()
    started = time.monotonic()
    deadline = started + max_seconds

    def one(i: int) -> ParticipantResult:
        pid = f"{SIM_PREFIX}{run_id}-{i:05d}"
        return SimulatedParticipant(url, pid, model, view, timings, opts, seed * 1_000_003 + i, deadline).run()

    results: list[ParticipantResult | None] = [None] * participants
    bar = tqdm(total=participants, unit="participant", desc="simulated participants", disable=None if progress else True,
               dynamic_ncols=True, file=sys.stderr)
    answers = failed = 0
    with bar, ThreadPoolExecutor(max_workers=min(concurrency, max(1, participants)), thread_name_prefix="sim") as pool:
        futures = {pool.submit(one, i): i for i in range(participants)}
        for future in as_completed(futures):
            result = results[futures[future]] = future.result()
            answers, failed = answers + len(result.acks), failed + bool(result.error)
            bar.set_postfix(answers=answers, failed=failed, refresh=False)
            bar.update()
    return SimulationResult(results, timings, time.monotonic() - started, run_id)


def _distinct_errors(result: SimulationResult, most: int = 20) -> list[str]:
    """Each distinct error once (with how many participants hit it), not once per participant."""
    counts: dict[str, list[str]] = {}
    for p in result.participants:
        if p.error:
            counts.setdefault(p.error, []).append(p.participant_id)
    return [f"{ids[0]}: {err}" if len(ids) == 1 else f"{len(ids)} participants ({ids[0]}, ...): {err}"
            for err, ids in list(counts.items())[:most]]


def _probability(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a probability between 0 and 1")
    return value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="camstudy simulate",
        description="Simulated participants take a running survey over HTTP, as a browser does "
                    "(participant ids start with 'sim-'). Needs lab sessions with typed ids (lab_mode = 'named'), "
                    "and --lab-password where /lab is locked (crowd sources, serve --prod).",
    )
    p.add_argument("--url", required=True, help="the survey's base URL, e.g. http://127.0.0.1:5000")
    p.add_argument("--participants", type=int, default=5, help="how many simulated participants (default 5)")
    p.add_argument("--concurrency", type=int, default=5, help="how many take part at the same time (default 5)")
    p.add_argument("--manifest", type=Path, help="the study's manifest.json (or its directory): lets the "
                   "simulated people 'see' the methods; without it every answer is a coin flip")
    p.add_argument("--p-gradcam-larger", type=_probability, default=0.7,
                   help="P(choose the Grad-CAM image) for the 'larger' question (default 0.7)")
    p.add_argument("--p-gradcam-focused", type=_probability, default=0.35,
                   help="P(choose the Grad-CAM image) for the 'focused' question (default 0.35)")
    p.add_argument("--p-gradcam", action="append", default=[], metavar="QUESTION=P",
                   help="the same for any question id (repeatable)")
    p.add_argument("--p-same", type=_probability, default=0.05, help="P('About the same') where offered (default 0.05)")
    p.add_argument("--attention-accuracy", type=_probability, default=0.95,
                   help="P(answering an attention check correctly) (default 0.95)")
    p.add_argument("--rt-ms", type=int, default=1800, help="median reported response time (default 1800)")
    p.add_argument("--think", type=float, default=0.0,
                   help="seconds each person pauses per trial (default 0: full speed, which the server's "
                        "timing flags as too fast; 1.3 or more looks like a person)")
    p.add_argument("--lab-password", help="the lab password, if /lab asks for one")
    p.add_argument("--max-seconds", type=float, default=600, help="stop after this long (default 600)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal anyway)")
    args = p.parse_args(argv)
    if not 0 <= args.participants <= 100_000 or not 1 <= args.concurrency <= 1000:
        p.error("--participants must be 0-100000 and --concurrency 1-1000")
    p_gradcam = {"larger": args.p_gradcam_larger, "focused": args.p_gradcam_focused}
    for item in args.p_gradcam:
        q, _, value = item.partition("=")
        try:
            p_gradcam[q] = _probability(value)
        except (ValueError, argparse.ArgumentTypeError):
            p.error(f"--p-gradcam {item!r}: expected QUESTION=P with P between 0 and 1")
    manifest = None
    if args.manifest:
        path = args.manifest / "manifest.json" if args.manifest.is_dir() else args.manifest
        manifest = json.loads(path.read_text(encoding="utf-8"))
    model = ResponseModel(p_gradcam, args.p_same, args.attention_accuracy, args.rt_ms)
    opts = ClientOptions(lab_password=args.lab_password, think_s=args.think)
    result = simulate(args.url, args.participants, model, manifest, args.concurrency, opts,
                      args.max_seconds, seed=args.seed, progress=not args.no_progress)
    s = result.summary()
    if args.json:
        print(json.dumps(s, indent=1))
    else:
        print(f"simulated {s['participants']} participants (ids {SIM_PREFIX}{s['run_id']}-…): "
              f"{s['completed']} completed, {s['study_full']} found the study full, {s['error_count']} failed")
        print(f"  {s['answers_acknowledged']} trials answered in {s['seconds']} s ({s['answers_per_s']}/s); "
              f"answer POST p50/p95/p99 {s['answer_post_ms']['p50']}/{s['answer_post_ms']['p95']}/"
              f"{s['answer_post_ms']['p99']} ms; {s['retries']} retries, {s['status_5xx']} 5xx")
        if manifest is None:
            print("  note: no --manifest, so answers were coin flips")
        for e in _distinct_errors(result):
            print(f"  error: {e}", file=sys.stderr)
    return 0 if not s["error_count"] else 1


# --------------------------------------------------------------------------- checking the database


def audit(engine: Any, result: SimulationResult, slack: int = 1) -> list[str]:
    """What the database says about a simulation run: an empty list when every
    acknowledged answer is stored exactly once (same key, same sides), nothing else was
    stored for these participants, nobody got more trials than the study's settings
    allow, and no pair has more live allocations than ``ratings_per_pair + slack``."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from webapp.db import Participant, Response, Study, Trial
    from webapp.settings import Settings

    problems: list[str] = []
    prefix = f"{SIM_PREFIX}{result.run_id}-"
    with Session(engine) as s:
        people = {p.participant_id: p for p in s.scalars(
            select(Participant).where(Participant.participant_id.startswith(prefix, autoescape=True)))}
        acked = 0
        for pr in result.participants:
            p = people.get(pr.participant_id)
            if p is None:
                if pr.acks:
                    problems.append(f"{pr.participant_id}: acknowledged answers but no participant row")
                continue
            rows = s.execute(
                select(Trial.trial_index, Response.question_id, Response.response_side, Response.idempotency_key)
                .join(Trial, Response.trial_pk == Trial.id).where(Response.participant_pk == p.id)
            ).all()
            stored: dict[int, dict[str, tuple[str, str]]] = {}
            for index, q, side, key in rows:
                if q in stored.setdefault(index, {}):
                    problems.append(f"{pr.participant_id}: trial {index} question {q} stored twice")
                stored[index][q] = (side, key)
            for ack in pr.acks:
                acked += len(ack.sides)
                got = stored.get(ack.trial_index, {})
                want = {q: (side, ack.idempotency_key) for q, side in ack.sides.items()}
                if got != want:
                    problems.append(f"{pr.participant_id}: trial {ack.trial_index} acknowledged {want}, stored {got}")
            extra = set(stored) - {a.trial_index for a in pr.acks}
            if extra and not pr.error:
                problems.append(f"{pr.participant_id}: stored answers never acknowledged for trials {sorted(extra)}")
        if acked != sum(len(a.sides) for pr in result.participants for a in pr.acks):
            problems.append("acknowledged answer count mismatch")
        for study in s.scalars(select(Study)):
            settings = Settings.from_dict(study.settings)
            a = settings.assignment
            most = {False: ("trials", a["pairs_per_participant"] + a["attention_checks_per_participant"]),
                    True: ("practice trials", settings.survey["practice_trials"])}
            for is_practice, (what, allowed) in most.items():
                over = s.execute(
                    select(Participant.participant_id, func.count(Trial.id))
                    .join(Trial, Trial.participant_pk == Participant.id)
                    .where(Participant.study_pk == study.id, Trial.is_practice.is_(is_practice))
                    .group_by(Participant.id, Participant.participant_id)
                    .having(func.count(Trial.id) > allowed)
                ).all()
                problems += [f"{pid}: {n} {what}, more than {allowed}" for pid, n in over]
            limit = a["ratings_per_pair"] + slack
            crowded = s.execute(
                select(Trial.pair_pk, func.count(Trial.id))
                .join(Participant, Trial.participant_pk == Participant.id)
                .where(Participant.study_pk == study.id, Trial.is_practice.is_(False),
                       Trial.is_attention_check.is_(False))
                .group_by(Trial.pair_pk)
                .having(func.count(Trial.id) > limit)
            ).all()
            problems += [f"pair #{pk}: allocated {n} times, more than {limit}" for pk, n in crowded]
    return problems

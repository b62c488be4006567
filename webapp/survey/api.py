"""Participant JSON API (described in ``webapp/survey/openapi.yaml``).

The caller is identified by the participant token in the path (a secret, like the
survey link itself). Requests must be ``application/json`` — a cross-site form cannot
send that without a CORS preflight, which this API never grants — so these routes
are exempt from the form CSRF token. Every error is a JSON ``{"error", "status"}``.
"""
from __future__ import annotations

from importlib.resources import files

from flask import Blueprint, Response, current_app, jsonify, request

from webapp.data.engine import db
from webapp.survey.navigation import (MIN_INDEX, counts, first_unanswered, next_url, participant_or_404, participant_trials, trial_view)
from webapp.server.security import limiter
from webapp.survey.answers import AnswerError, mark_served, save_answers

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _answer_rate() -> str:
    return current_app.config["CAMSTUDY_RATE_ANSWERS"]


def _token_key() -> str:
    return "answer:" + (request.view_args or {}).get("token", "")


@bp.get("/participants/<token>")
def state(token: str):
    participant = participant_or_404(token)
    answered, total = counts(db.session, participant)
    current = first_unanswered(db.session, participant)
    return jsonify(
        next_url=next_url(db.session, participant),
        next_trial=current.trial_index if current else None,
        progress={"answered": answered, "total": total},
        completed=participant.completed_at is not None,
    )


@bp.get("/participants/<token>/trials/<int(signed=True, max=100000):index>")
def trial(token: str, index: int):
    participant = participant_or_404(token)
    if index < MIN_INDEX:
        return jsonify(error=f"Trial {index} is not part of this participant's survey.", status=404), 404
    trials = participant_trials(db.session, participant)
    t = next((t for t in trials if t.trial_index == index), None)
    if t is None:
        return jsonify(error=f"Trial {index} is not part of this participant's survey.", status=404), 404
    mark_served(db.session, trials, t)
    return jsonify(trial_view(db.session, participant, t, trials))


@bp.post("/participants/<token>/trials/<int(signed=True, max=100000):index>/answers")
@limiter.limit(_answer_rate, key_func=_token_key)
def answer(token: str, index: int):
    if not request.is_json:
        return jsonify(error="Send the answers as application/json.", status=415), 415
    body = request.get_json()  # strict (webapp/survey/json_body.py): a 400 naming the problem
    participant = participant_or_404(token)
    try:
        saved = save_answers(db.session, participant, index, body)
    except AnswerError as exc:
        db.session.rollback()
        return jsonify(error=exc.message, status=exc.status), exc.status
    return jsonify(status="saved" if saved.created else "already_saved", next_url=saved.next_url,
                   next_trial=saved.next_trial), 201 if saved.created else 200


@bp.get("/openapi.yaml")
def openapi():
    text = files("webapp.survey").joinpath("openapi.yaml").read_text(encoding="utf-8")
    return Response(text, mimetype="application/yaml")

"""Strict JSON request bodies for every endpoint that reads one (``request.get_json()``).

Python's ``json`` module accepts more than JSON and fails badly on some of it: 1,000
nested brackets raise RecursionError (a 500 from a 2 KB body), ``NaN``/``Infinity``
and ``1e999`` become floats no database column wants, and strings may carry NUL
characters or lone surrogates that PostgreSQL refuses at INSERT time. The app's JSON
provider refuses all of these while parsing, so every handler sees plain, bounded JSON,
and the request class turns a refusal into a 400 (or 415) that names the problem.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import Request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

MAX_DEPTH = 20  # answers are 3 deep; nothing legitimate comes near
MAX_NUMBER_CHARS = 24  # longer than any 64-bit integer or double in its shortest form

# A JSON string (skipped whole, so brackets inside strings do not count) or a bracket.
# Possessive quantifiers and the optional closing quote keep it linear: an unterminated
# string is consumed to the end once, not retried from every quote inside it.
_TOKENS = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"?|[\[\]{}]', re.S)


class JSONBodyError(ValueError):
    """The body is not the plain JSON this app accepts; the message says why."""


def check_depth(text: str, limit: int = MAX_DEPTH) -> None:
    """Refuse nesting deeper than ``limit`` before the recursive parser sees it."""
    depth = 0
    for m in _TOKENS.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > limit:
                raise JSONBodyError(f"it is nested deeper than {limit} levels")
        elif c in "]}":
            depth -= 1


def _refuse_constant(name: str) -> Any:
    raise JSONBodyError(f"{name} is not a JSON number")


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise JSONBodyError(f"a number has more than {MAX_NUMBER_CHARS} characters")
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise JSONBodyError(f"a number has more than {MAX_NUMBER_CHARS} characters")
    value = float(text)
    if not math.isfinite(value):
        raise JSONBodyError(f"the number {text} is out of range")
    return value


def _check_text(s: str) -> str:
    if "\x00" in s:
        raise JSONBodyError("a string contains a NUL character")
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise JSONBodyError("a string contains an unpaired surrogate escape") from exc
    return s


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JSONBodyError(f"the key {key!r} appears twice in one object")
        out[_check_text(key)] = value
    return out


def _check_strings(value: Any) -> None:
    """Object keys are checked as parsed; this walks the (depth-bounded) values."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            _check_text(v)
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())


def strict_loads(data: str | bytes) -> Any:
    """Parse a request body as strict JSON (UTF-8, RFC 8259) or raise JSONBodyError."""
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JSONBodyError(f"it is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    check_depth(data)
    try:
        value = json.loads(data, parse_constant=_refuse_constant, parse_int=_int, parse_float=_float,
                           object_pairs_hook=_object)
    except JSONBodyError:
        raise
    except ValueError as exc:  # json.JSONDecodeError, int() over the digit limit
        raise JSONBodyError(str(exc)) from exc
    _check_strings(value)
    return value


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider (``app.json``) with strict parsing; writing is unchanged."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return strict_loads(s)


class StrictJSONRequest(Request):
    """Says why a JSON body was refused (Flask's default hides it outside debug mode)."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if e is None:
            raise UnsupportedMediaType("Send the body as application/json.")
        raise BadRequest(f"The body is not valid JSON: {e}.")

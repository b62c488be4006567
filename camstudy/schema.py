"""How a package declares its sections of study.toml, and how a wrong value is reported.

A section is a frozen pydantic model (``Section``); each key is one attribute declared
with ``key(default, meaning, ...)``. The declaration is the only place that knows a key's
type, default, bounds and meaning: validation, the error messages and docs/study-toml.md
are all derived from it. pydantic's own error text speaks of "inputs" and Python types;
``section_problems`` translates it into the study's words: the file, the section, the
key, what was expected and what was written.

Imports only the standard library and pydantic, so every package (and ``camstudy
check``) can use it without loading torch, flask or a database driver.
"""
from __future__ import annotations

import difflib
import json
import types
import typing
from typing import Annotated, Any

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError
from pydantic.fields import FieldInfo

# TOML values arrive as Python values: strict types refuse "5" for 5 and true for 1.
# (A strict float still takes an integer: 1 means 1.0.)
Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]


class Section(BaseModel):
    """One [section] of study.toml: unknown keys refused, values frozen once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def written(self, name: str) -> bool:
        """Whether study.toml gave ``name`` (rather than leaving it to its default)."""
        return name in self.model_fields_set


def key(default: Any = ..., meaning: str = "", *, expected: str | None = None,
        factory: typing.Callable[[], Any] | None = None, **constraints: Any) -> Any:
    """One key of a section: its default, what it means, and (optionally) bounds.

    ``expected`` overrides the description of acceptable values that is otherwise
    derived from the type and the bounds (``ge``, ``le``, ``max_length``, ...).
    ``factory`` builds a mutable default (a list or a table) afresh for each read.
    """
    extra = {"expected": expected} if expected else None
    if factory is not None:
        return Field(default_factory=factory, description=meaning, json_schema_extra=extra, **constraints)
    return Field(default, description=meaning, json_schema_extra=extra, **constraints)


# --- what a key expects, in words -------------------------------------------------------

def expected(field: FieldInfo) -> str:
    """'an integer from 0 to 9', 'one of "png", "jpeg"', 'a list of strings', ..."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if extra.get("expected"):
        return str(extra["expected"])
    return _describe(field.annotation, field.metadata)


def _describe(tp: Any, metadata: list[Any]) -> str:
    tp, metadata = _unwrap(tp, metadata)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return "one of " + ", ".join(toml_value(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _describe(inner[0], metadata) if len(inner) == 1 else " or ".join(_describe(a, []) for a in inner)
    if origin in (list, tuple):
        return "a list of " + _plural(_describe(args[0], [])) + _length(metadata, "item")
    if origin is dict or tp is dict:
        return "a table"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer" + _bounds(metadata)
    if tp is float:
        return "a number" + _bounds(metadata)
    if tp is str:
        return "a string" + _length(metadata, "character")
    return getattr(tp, "__name__", str(tp))


def _unwrap(tp: Any, metadata: list[Any]) -> tuple[Any, list[Any]]:
    while typing.get_origin(tp) is Annotated:
        args = typing.get_args(tp)
        tp, metadata = args[0], [*metadata, *args[1:]]
    return tp, metadata


def _bounds(metadata: list[Any]) -> str:
    lo = next((m for m in metadata if isinstance(m, (annotated_types.Ge, annotated_types.Gt))), None)
    hi = next((m for m in metadata if isinstance(m, (annotated_types.Le, annotated_types.Lt))), None)
    if isinstance(lo, annotated_types.Ge) and isinstance(hi, annotated_types.Le):
        return f" from {lo.ge} to {hi.le}"
    parts = []
    if lo is not None:
        parts.append(f">= {lo.ge}" if isinstance(lo, annotated_types.Ge) else f"> {lo.gt}")
    if hi is not None:
        parts.append(f"<= {hi.le}" if isinstance(hi, annotated_types.Le) else f"< {hi.lt}")
    return (" " + " and ".join(parts)) if parts else ""


def _length(metadata: list[Any], unit: str) -> str:
    lo = next((m.min_length for m in metadata if isinstance(m, annotated_types.MinLen)), 0)
    hi = next((m.max_length for m in metadata if isinstance(m, annotated_types.MaxLen)), None)
    if lo and lo == hi:
        return f" ({lo} {unit}s)"
    if lo and hi is not None:
        return f" ({lo} to {hi} {unit}s)"
    if hi is not None:
        return f" (at most {hi} {unit}s)"
    return f" (at least {lo} {unit}{'s' if lo > 1 else ''})" if lo else ""


def _plural(text: str) -> str:
    for article in ("an ", "a "):
        if text.startswith(article):
            noun, _, rest = text[len(article):].partition(" ")
            return f"{noun}s" + (f" {rest}" if rest else "")
    return text


def toml_value(value: Any) -> str:
    """``value`` as it would be written in study.toml."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }" if value else "{}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


# --- reading a section --------------------------------------------------------------------

def closest(name: str, known: typing.Iterable[str]) -> str | None:
    """The known name a typo most likely meant, if any is close."""
    hits = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return hits[0] if hits else None


def read_section(cls: type[Section], given: Any, filename: str, name: str, rules: bool = True
                 ) -> tuple[Section | None, list[str]]:
    """The section ``cls`` read from ``given`` (``{}`` when absent), and its problems.

    The section is None when a key is unknown or wrong; when every key is right but the
    section's own rules refuse their combination, it is still returned (unchecked), so
    that rules across sections can be checked too and every problem listed at once.
    ``rules=False`` skips those rules (settings stored by an earlier import are read as
    they were accepted then, never refused on a live request).
    """
    if not isinstance(given, dict):
        return None, [f"{filename}: [{name}] must be a table (a [{name}] header followed by keys), "
                      f"got {toml_value(given)}"]
    try:
        return cls.model_validate(given), []
    except ValidationError as exc:
        keys_fine = all(not err["loc"] for err in exc.errors())
        section = cls.model_construct(_fields_set=set(given), **given) if keys_fine else None
        if section is not None and not rules:
            return section, []
        return section, section_problems(exc, cls, given, filename, name)


def section_problems(exc: ValidationError, cls: type[Section], given: dict, filename: str,
                     name: str) -> list[str]:
    """pydantic's errors as sentences naming the file, the section, the key and what was expected."""
    out: list[str] = []
    seen: set[str] = set()
    for err in exc.errors():
        loc = err["loc"]
        field = str(loc[0]) if loc else ""
        if err["type"] == "extra_forbidden":
            out.append(unknown_key(filename, name, field, cls.model_fields))
        elif not loc or field not in cls.model_fields:
            # a rule over several keys (a model validator): its message names them
            out.append(f"{filename}: [{name}] {err['msg'].removeprefix('Value error, ')}")
        elif field not in seen:  # one message per key, however many items were wrong
            seen.add(field)
            out.append(f"{filename}: [{name}] {field} must be {expected(cls.model_fields[field])}, "
                       f"got {given.get(field)!r}")
    return out


def unknown_key(filename: str, section: str, name: str, known: typing.Iterable[str]) -> str:
    known = sorted(known)
    guess = closest(name, known)
    hint = f" (did you mean '{guess}'?)" if guess else ""
    return f"{filename}: unknown key {name!r} in [{section}]{hint}; expected one of: {', '.join(known)}"

"""A package's public names, loaded when first used.

Each package lists its public functions in ``__init__.py`` as ``name -> "module:attr"``;
``lazy_exports`` gives it the module-level ``__getattr__`` and ``__dir__`` that import
the module behind a name on first access. So ``import generator`` never loads torch,
``import webapp`` never loads flask, and a package's ``__init__.py`` imports none of its
own submodules (no import circles through it; tests/camstudy/test_architecture.py).
"""
from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, table: dict[str, str],
                 namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """(``__getattr__``, ``__dir__``) for the module ``package`` whose globals are ``namespace``."""

    def __getattr__(name: str) -> Any:
        target = table.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attr = target.partition(":")
        value = getattr(importlib.import_module(module), attr)
        namespace[name] = value  # later lookups are plain attribute reads
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *table})

    return __getattr__, __dir__

"""The packages' boundaries, read from the source (docs/architecture.md).

Every ``import`` statement in product code is read with ``ast`` (also imports inside
functions: a circle broken at run time by a function-level import is still a circle;
only ``if TYPE_CHECKING:`` blocks are left out) and checked for two things:

- no import circle inside a package;
- an import from one package into another names only that package's public surface:
  the package itself (its lazily loaded ``__all__``), its ``cli``, ``settings`` and
  ``errors`` modules, the README's ``generator.cams`` and ``generator.models``, and the
  shared base of ``camstudy`` (the schema of study.toml, the whole-file check and the
  layout-free PNG);
- and, between packages, no circle among the imports that run when a module is loaded
  (top-level statements). One loop is there by design and runs only when a study file is
  read: ``camstudy.studyfile`` collects every package's ``settings`` sections, and each
  package's settings, when it reads study.toml, asks ``camstudy.studyfile`` to check the
  whole file first (unknown sections, contradictions between packages).

Each check is also run on a small made-up tree with a circle and a reach into internals,
so that it is shown to fail when it should.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests import ROOT

PACKAGES = ("camstudy", "generator", "webapp", "analysis", "crowdsim")
SURFACE = {"cli", "settings", "errors"}
PUBLIC_EXTRA = {"generator.cams", "generator.models", "camstudy.lazy",
                "camstudy.schema", "camstudy.studyfile", "camstudy.layoutfree"}
# camstudy is the dispatcher on top: it may use the packages' surfaces; they may use its
# shared base (PUBLIC_EXTRA) and its version, never its commands.


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(tree: ast.AST, module: str, is_package: bool, top_level: bool = False):
    """(line, imported module name, imported names) of every import outside TYPE_CHECKING
    (``top_level``: only those that run when the module is loaded, not inside functions)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if top_level and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.If) and is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            yield node.lineno, base, [a.name for a in node.names]
        stack.extend(ast.iter_child_nodes(node))


def graph(root: Path, packages=PACKAGES, top_level: bool = False) -> dict[str, list[tuple[str, str]]]:
    """module -> [(imported module, 'file:line')] over the packages' own modules."""
    files = {module_name(root, p): p for pkg in packages if (root / pkg).is_dir()
             for p in sorted((root / pkg).rglob("*.py"))}
    edges: dict[str, list[tuple[str, str]]] = {m: [] for m in files}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for line, name, names in imports(tree, module, path.name == "__init__.py", top_level):
            if name.split(".")[0] not in packages:
                continue
            where = f"{path.relative_to(root)}:{line}"
            targets = [f"{name}.{n}" for n in names if f"{name}.{n}" in files] or [name]
            if names and len(targets) < len(names) and targets != [name]:
                targets.append(name)  # `from pkg import submodule, function`
            edges[module] += [(t, where) for t in targets]
    return edges


def circles(edges: dict[str, list[tuple[str, str]]], across: bool = False) -> list[list[str]]:
    """Strongly connected sets of modules of one package (``across``: of any packages)
    (Tarjan), as sorted lists."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:  # the import graph is shallow: recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        for w, _ in edges.get(v, []):
            if (not across and w.split(".")[0] != v.split(".")[0]) or w not in edges:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1 or any(t == v for t, _ in edges.get(v, [])):
                found.append(sorted(scc))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def public(target: str) -> bool:
    parts = target.split(".")
    return len(parts) == 1 or (len(parts) == 2 and parts[1] in SURFACE) or target in PUBLIC_EXTRA


def reaches_into_internals(edges: dict[str, list[tuple[str, str]]]) -> list[str]:
    bad = []
    for module, targets in edges.items():
        for target, where in targets:
            mine, theirs = module.split(".")[0], target.split(".")[0]
            if mine == theirs:
                continue
            if theirs == "camstudy" and target not in ("camstudy",) and target not in PUBLIC_EXTRA:
                bad.append(f"{where}: {module} imports {target} (camstudy's commands are above every package)")
            elif theirs != "camstudy" and not public(target):
                bad.append(f"{where}: {module} imports {target}, an internal of {theirs}")
    return bad


def test_no_import_circle_inside_a_package():
    assert circles(graph(ROOT)) == []


def test_packages_meet_only_through_public_surfaces():
    assert reaches_into_internals(graph(ROOT)) == []


def test_no_circle_between_packages_when_modules_load():
    assert circles(graph(ROOT, top_level=True), across=True) == []


def test_the_checks_fail_on_a_circle_and_on_a_reach_into_internals(tmp_path):
    files = {
        "generator/__init__.py": "",
        "generator/a.py": "from generator.b import f\n",
        "generator/b.py": "def f():\n    from generator import a\n",  # broken at run time: still a circle
        "generator/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from generator.d import x\n",
        "generator/d.py": "from generator import c\n",  # only a TYPE_CHECKING edge back: no circle
        "webapp/__init__.py": "",
        "webapp/ok.py": "import generator\nfrom generator.cli import main\nfrom camstudy.schema import Section\n",
        "webapp/bad.py": "from generator.engine.cams import compute\n",
        "analysis/__init__.py": "from camstudy.demo import main\n",
        "analysis/x.py": "import webapp.ok\n",
        "webapp/y.py": "def f():\n    import analysis.x\n",  # only at run time: no load-time circle
        "crowdsim/__init__.py": "",
        "crowdsim/p.py": "import camstudy.schema\n",
        "camstudy/__init__.py": "",
        "camstudy/schema.py": "import crowdsim.p\n",  # a load-time circle between packages
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    edges = graph(tmp_path)
    assert circles(edges) == [["generator.a", "generator.b"]]
    assert circles(graph(tmp_path, top_level=True), across=True) == [["camstudy.schema", "crowdsim.p"]]
    bad = {line.split(": ")[1].split(",")[0].split(" (")[0] for line in reaches_into_internals(edges)}
    assert bad == {"webapp.bad imports generator.engine.cams", "analysis imports camstudy.demo",
                   "analysis.x imports webapp.ok", "webapp.y imports analysis.x",
                   "camstudy.schema imports crowdsim.p"}


@pytest.mark.parametrize("package", [p for p in PACKAGES if p != "camstudy"])
def test_each_package_has_one_command_module(package):
    """Subcommands live in <package>/cli.py only (camstudy's dispatcher points there)."""
    from camstudy.cli import SUBCOMMANDS

    targets = {t.split(":")[0] for t, _ in SUBCOMMANDS.values()}
    assert {t for t in targets if t.split(".")[0] == package} <= {f"{package}.cli"}

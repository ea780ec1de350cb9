"""The package layers: no import runs from a lower layer to a higher one, and no two packages
import each other (directly or round a circle). The order is written once, here, and quoted
in docs/maintainer-guide.md.

Every import counts: at the top of a module, inside a function, under ``TYPE_CHECKING``.
Table modules (``facegate.<package>.tables``) belong to the database layer: they are
declarations that import only ``facegate.db`` (and errors), so every layer may read them.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "facegate"

# Bottom to top. A module may import its own package and any package of a lower layer.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("config",),
    ("db",),  # with every package's ``tables`` module
    ("vision",),
    ("fairness",),
    ("audit",),
    ("auth",),  # API keys' secrets, SigV4, console sign-ins (recorded: above audit)
    ("gallery",),
    ("policy",),
    ("video",),
    ("footage",),
    ("reports",),
    ("actions",),
    ("service",),
    ("web",),
    ("api",),
    ("cli",),
)
RANK = {package: rank for rank, names in enumerate(LAYERS) for package in names}
DB = RANK["db"]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit_of(module: str) -> tuple[str, int]:
    """The package a module belongs to, for the layer check, and its rank."""
    parts = module.split(".")
    if len(parts) == 1:  # facegate itself
        return "facegate", -1
    package = parts[1]
    if parts[-1] == "tables" and len(parts) == 3:
        return package + ".tables", DB
    if package not in RANK:
        raise AssertionError(f"{module}: package {package!r} is not in the layer order")
    return package, RANK[package]


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every facegate module ``path`` imports, with the line of the import."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                # ``from package import module`` imports that module (the package's
                # ``__init__`` runs too, but facegate's hold no imports of their own);
                # ``from module import name`` imports the module.
                child = f"{target}.{alias.name}"
                found.append((node.lineno, child if existing(child) == child else target))
    return sorted({(line, name) for line, name in found if name.startswith("facegate.")})


def existing(name: str) -> str | None:
    """The longest prefix of ``name`` that is a facegate module or package."""
    parts = name.split(".")
    while parts:
        candidate = SRC.parent.joinpath(*parts)
        if candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file():
            return ".".join(parts)
        parts.pop()
    return None


def edges() -> list[tuple[str, int, str, str]]:
    """(file, line, importing module, imported module) for every import of facegate code."""
    out = []
    for path in sorted(SRC.rglob("*.py")):
        module = module_name(path)
        for line, name in imports_of(path):
            target = existing(name)
            if target is not None and target != module:
                out.append((str(path.relative_to(SRC.parent.parent)), line, module, target))
    return out


def test_every_package_is_in_the_layer_order():
    packages = {p.name for p in SRC.iterdir() if (p / "__init__.py").is_file()}
    modules = {p.stem for p in SRC.glob("*.py") if p.stem != "__init__"}
    assert packages | modules <= set(RANK), sorted((packages | modules) - set(RANK))


def test_package_inits_import_only_their_own_modules():
    """What makes ``from package import module`` count as importing the module alone."""
    for init in SRC.glob("*/__init__.py"):
        package = module_name(init)
        for line, name in imports_of(init):
            assert name.startswith(package + "."), f"{init}:{line} imports {name}"


def upward_imports() -> list[str]:
    problems = []
    for where, line, source, target in edges():
        (src_unit, src_rank), (dst_unit, dst_rank) = unit_of(source), unit_of(target)
        if src_unit == dst_unit or dst_rank == -1:
            continue
        if src_rank == DB and dst_rank == DB:
            # The database layer: table modules may name each other's tables (foreign keys),
            # and db.all_tables registers them; db itself imports no table module elsewhere.
            if src_unit == "db" and source != "facegate.db.all_tables":
                problems.append(f"{where}:{line} {source} -> {target} (only db.all_tables)")
            continue
        if src_rank == DB and not dst_unit.endswith(".tables") and dst_rank > src_rank:
            problems.append(f"{where}:{line} {source} -> {target} (a table module)")
        elif dst_rank > src_rank:
            problems.append(f"{where}:{line} {source} -> {target}")
    return problems


def test_no_import_runs_up_the_layers():
    assert upward_imports() == []


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (each holds a cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for start in sorted(graph):
        if start not in index:
            connect(start)
    return found


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for _where, _line, source, target in edges():
        if source == "facegate.db.all_tables":  # registers the tables; nothing calls back
            continue
        a, b = unit_of(source)[0].removesuffix(".tables"), unit_of(target)[0]
        b = b.removesuffix(".tables")
        if a != b and b != "facegate":
            graph[a].add(b)
    return graph


def test_no_cycle_between_packages():
    """Table modules count with their package here: gallery's code reading policy's tables
    while policy's code reads gallery's would still be two packages that need each other."""
    assert circles(package_graph()) == []


def test_modules_of_one_package_do_not_import_each_other_in_a_circle():
    graph: dict[str, set[str]] = defaultdict(set)
    for _where, _line, source, target in edges():
        if unit_of(source)[0] == unit_of(target)[0]:
            graph[source].add(target)
    assert circles(graph) == []


@pytest.mark.parametrize(
    ("source", "target", "caught"),
    [
        ("facegate.policy.point", "facegate.api.app", True),  # policy -> api: up
        ("facegate.gallery.store", "facegate.policy.tables", False),  # any layer reads tables
        ("facegate.policy.tables", "facegate.policy.registry", True),  # a table module: up
        ("facegate.db.engine", "facegate.gallery.tables", True),  # only db.all_tables may
        ("facegate.db.all_tables", "facegate.video.tables", False),
        ("facegate.api.app", "facegate.web.routes", False),  # web is below api
        ("facegate.web.console", "facegate.api.rest.errors", True),
    ],
)
def test_the_check_catches_an_upward_import(source, target, caught, monkeypatch):
    """The check itself: an added upward import is reported (so the test above can fail)."""
    fake = [("fake.py", 1, source, target)]
    monkeypatch.setattr(f"{__name__}.edges", lambda: fake)
    assert bool(upward_imports()) is caught

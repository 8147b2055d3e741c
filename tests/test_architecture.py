"""The package's layering (docs/architecture.md): no import circle anywhere in ``fasrnet/`` (imports inside
functions count, ``if TYPE_CHECKING:`` blocks do not), and every import points to the same floor or one below.
Read with :mod:`ast` through fasrnet.codedeps, the same reading the workflow's code dependencies use."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from fasrnet.codedeps import PACKAGE_DIR, imported_modules

#: Floors, bottom to top (docs/architecture.md). A module belongs to the longest prefix it matches (the root
#: package ``fasrnet`` only to itself: a new module must be given a floor).
FLOORS: tuple[tuple[str, ...], ...] = (
    ("fasrnet.errors", "fasrnet.io", "fasrnet.keypoints", "fasrnet.codecs", "fasrnet.params", "fasrnet.paths",
     "fasrnet.runs", "fasrnet.stages", "fasrnet.record", "fasrnet.runtime", "fasrnet.shards", "fasrnet.cachesize",
     "fasrnet.resume", "fasrnet.codedeps", "fasrnet.host", "fasrnet.locks", "fasrnet.prefetch", "fasrnet"),
    ("fasrnet.data",),
    ("fasrnet.models", "fasrnet.evaluate"),
    ("fasrnet.epochs", "fasrnet.inference", "fasrnet.adapt", "fasrnet.features", "fasrnet.batches", "fasrnet.backbone",
     "fasrnet.train", "fasrnet.predict",
     "fasrnet.complexity", "fasrnet.demo"),
    ("fasrnet.tables",),
    ("fasrnet.workflow", "fasrnet.commands", "fasrnet.cli", "fasrnet.__main__"),
)
FLOOR_NAMES = ("core", "data", "models and evaluate", "learning", "tables", "command line")


def floor(module: str) -> int:
    best = None
    for i, prefixes in enumerate(FLOORS):
        for p in prefixes:
            inside = p != "fasrnet" and module.startswith(p + ".")
            if (module == p or inside) and (best is None or len(p) > best[1]):
                best = (i, len(p))
    assert best is not None, f"{module} is on no floor of docs/architecture.md"
    return best[0]


def package_modules() -> dict[str, Path]:
    mods = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = path
    return mods


def import_graph() -> dict[str, set[str]]:
    """Module → the ``fasrnet`` modules it imports (packages on the way left out: importing ``fasrnet.data.crops``
    runs ``fasrnet/data/__init__.py``, which imports nothing)."""
    mods = package_modules()
    graph = {}
    for name, path in mods.items():
        found = imported_modules(ast.parse(path.read_text()), name)
        graph[name] = {m for m in found if m in mods and m != name and not name.startswith(m + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_circle():
    assert cycles(import_graph()) == []


def test_the_circle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_a_floor_above_its_own():
    upward = [f"{m} ({FLOOR_NAMES[floor(m)]}) imports {t} ({FLOOR_NAMES[floor(t)]})"
              for m, targets in sorted(import_graph().items()) for t in sorted(targets) if floor(t) > floor(m)]
    assert upward == []


def test_every_module_is_on_a_floor():
    for name in package_modules():
        floor(name)


def test_the_floors_are_those_the_architecture_page_lists():
    page = (PACKAGE_DIR.parent / "docs" / "architecture.md").read_text()
    for prefixes in FLOORS:
        for p in prefixes:
            if p != "fasrnet":
                assert f"`{p.removeprefix('fasrnet.')}" in page, f"docs/architecture.md does not name {p}"


def test_only_the_crops_stage_users_import_the_crops_stage():
    # what other stages need of crops lives beside it: which persons (data.persons), the crop store (data.cropstore)
    importers = {m for m, targets in import_graph().items() if "fasrnet.data.crops" in targets}
    assert "fasrnet.commands.crops" in importers  # the graph sees the stage's own command
    assert importers <= {"fasrnet.data.crops", "fasrnet.backbone", "fasrnet.commands.crops"}


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["evaluate", "--help"]])
def test_parsing_the_command_line_loads_neither_pydantic_nor_torch(argv):
    # the parser is built for every command, `--help` included: it must not pay for the params or network stacks
    code = ("import contextlib, io, sys\nfrom fasrnet.cli import build_parser\n"
            f"with contextlib.redirect_stdout(io.StringIO()):\n    try:\n        build_parser().parse_args({argv!r})\n"
            "    except SystemExit:\n        pass\n"
            "print('loaded:', *sorted(m for m in ('pydantic', 'torch', 'numpy', 'yaml', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "loaded:"


def test_no_module_imports_another_modules_private_name():
    # a name with a leading underscore is its module's own business; one that others need is made public there
    found = []
    for name, path in package_modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("fasrnet")):
                found += [f"{name} imports {a.name} from {node.module}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert found == []

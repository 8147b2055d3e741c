"""The code a stage runs, as file dependencies: the static import closure of its command inside the package.

A stage's command is ``fasrnet <subcommand> …``. Its code is ``fasrnet/cli.py`` with the modules that file imports
at module level, plus what ``main()`` and the subcommand's handler reach: the imports written inside the handler,
inside the ``cli.py`` functions it calls (transitively, also through a module-level list such as the parser's
registrars), and inside the handlers it dispatches to with ``main_with(…, ["<subcommand>", …])``. Each module
found contributes its import closure: every ``import``/``from … import`` of a ``fasrnet`` module anywhere in its
file (a lazy import inside a function counts: it runs when the function does; an ``if TYPE_CHECKING:`` block does
not), the packages' ``__init__.py`` on the way, and package data files the module names by a string literal
(``"literature.yaml"`` beside ``tables/literature.py``).

Everything is read from the source with :mod:`ast`; nothing is imported, so the registry stays cheap and
torch-free. Both wirings take the result as dependencies (docs/workflow.md): editing ``fasrnet/models/loss.py``
reruns the trainings and what follows them, editing ``fasrnet/tables/figures.py`` only ``tables``. A test runs
every stage's command and checks that each ``fasrnet`` module it imported is in its closure.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

PACKAGE = "fasrnet"
#: The package directory (``…/fasrnet``); paths below are relative to its parent, the repository root.
PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parent
CLI_MODULE = f"{PACKAGE}.cli"
ENTRY = "main"  # cli.py's entry point (pyproject's [project.scripts])
#: Files that are code or package data (a string literal naming a sibling file of one of these suffixes is data).
DATA_SUFFIXES = (".yaml", ".yml", ".json", ".csv", ".txt")


@lru_cache(maxsize=None)
def module_file(module: str) -> Path | None:
    """The source file of a ``fasrnet`` module (``fasrnet.models`` → ``fasrnet/models/__init__.py``), or ``None``."""
    if module != PACKAGE and not module.startswith(PACKAGE + "."):
        return None
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_package(module: str) -> bool:
    return ROOT.joinpath(*module.split("."), "__init__.py").is_file()


@lru_cache(maxsize=None)
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(node: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """The import statements under ``node``, except those in ``if TYPE_CHECKING:`` blocks (never executed)."""
    found: list[ast.Import | ast.ImportFrom] = []
    todo = [node]
    while todo:
        n = todo.pop()
        if isinstance(n, ast.Import | ast.ImportFrom):
            found.append(n)
        elif isinstance(n, ast.expr):
            continue  # no statement inside an expression
        elif _is_type_checking(n):
            todo.extend(n.orelse)  # type: ignore[attr-defined]
        else:
            todo.extend(ast.iter_child_nodes(n))
    return found


@lru_cache(maxsize=None)
def _direct_imports(module: str) -> frozenset[str]:
    path = module_file(module)
    return frozenset(imported_modules(_tree(path), module)) if path else frozenset()


def imported_modules(node: ast.AST, module: str) -> set[str]:
    """The ``fasrnet`` modules the import statements under ``node`` (in ``module``'s file) load, with their
    parent packages."""
    package = module if _is_package(module) else module.rpartition(".")[0]
    found: set[str] = set()
    for n in _import_nodes(node):
        if isinstance(n, ast.Import):
            found.update(alias.name for alias in n.names)
        else:
            if n.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - n.level + 1])
                base = f"{base}.{n.module}" if n.module else base
            else:
                base = n.module or ""
            found.add(base)
            # `from fasrnet.models import hrnet` loads the submodule too
            found.update(f"{base}.{alias.name}" for alias in n.names if module_file(f"{base}.{alias.name}"))
    out: set[str] = set()
    for name in found:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ first
            prefix = ".".join(parts[:i])
            if module_file(prefix):
                out.add(prefix)
    return out


@lru_cache(maxsize=None)
def _data_files(path: Path) -> frozenset[Path]:
    """Package data beside ``path`` that its source names by a string literal (``"manifest.json"``)."""
    text = path.read_text(encoding="utf-8")
    return frozenset(f for f in path.parent.iterdir() if f.suffix in DATA_SUFFIXES and f.is_file()
                     and (f'"{f.name}"' in text or f"'{f.name}'" in text))


@lru_cache(maxsize=None)
def module_closure(module: str) -> frozenset[str]:
    """``module`` and every ``fasrnet`` module it can import, directly or through others."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = module_file(name)
        if path is None:
            continue
        seen.add(name)
        todo.extend(_direct_imports(name) - seen)
    return frozenset(seen)


def files_of(modules: set[str] | frozenset[str]) -> list[str]:
    """Repository-relative paths (sorted) of ``modules``' files and the package data they name."""
    paths: set[Path] = set()
    for name in modules:
        path = module_file(name)
        if path is not None:
            paths.add(path)
            paths.update(_data_files(path))
    return sorted(p.relative_to(ROOT).as_posix() for p in paths)


# --------------------------------------------------------------------------------------------------------------
# cli.py: subcommand → handler → what it reaches


def _const_str(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _parser_name(node: ast.AST) -> str | None:
    """``"train"`` for a call ``<x>.add_parser("train", …)``, else ``None``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_parser" \
            and node.args:
        return _const_str(node.args[0])
    return None


@lru_cache(maxsize=1)
def _cli() -> tuple[Path, dict[str, ast.FunctionDef], set[str], dict[str, set[str]]]:
    """``cli.py``: its path, its functions, the modules it imports at module level, and for each module-level name
    the functions its value names (``REGISTRARS`` → every ``_add_<stage>``)."""
    path = module_file(CLI_MODULE)
    assert path is not None
    body = _tree(path).body
    functions = {n.name: n for n in body if isinstance(n, ast.FunctionDef)}
    top_level = ast.Module(body=[n for n in body if not isinstance(n, ast.FunctionDef | ast.ClassDef)],
                           type_ignores=[])
    assigned: dict[str, set[str]] = {}
    for node in body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            named = {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name) and n.id in functions}
            assigned.update({t.id: named for t in targets if isinstance(t, ast.Name)})
    return path, functions, imported_modules(top_level, CLI_MODULE), assigned


@lru_cache(maxsize=1)
def handlers() -> dict[str, str]:
    """Subcommand → handler function name, from the ``add_parser("name")`` … ``set_defaults(func=handler)`` pairs
    in ``cli.py`` (chained, or through a variable)."""
    _, functions, _, _ = _cli()
    out: dict[str, str] = {}
    for fn in functions.values():
        parsers = {n.targets[0].id: name for n in ast.walk(fn)  # variable → subcommand name
                   if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)
                   and (name := _parser_name(n.value)) is not None}
        for n in ast.walk(fn):
            if not (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "set_defaults"):
                continue
            func = next((k.value for k in n.keywords if k.arg == "func"), None)
            owner = n.func.value
            name = parsers.get(owner.id) if isinstance(owner, ast.Name) else _parser_name(owner)
            if isinstance(func, ast.Name) and name is not None:
                out[name] = func.id
    return out


def _dispatched(fn: ast.FunctionDef) -> set[str]:
    """Subcommands ``fn`` runs through ``main_with(params, args, argv)``: in a function that calls ``main_with``,
    the first word of every list literal (``["synthesize", "--datasets", …]``, also one built in a variable)."""
    calls = any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "main_with"
                for n in ast.walk(fn))
    if not calls:
        return set()
    return {word for n in ast.walk(fn) if isinstance(n, ast.List) and n.elts
            if (word := _const_str(n.elts[0])) is not None}


@lru_cache(maxsize=None)
def subcommand_modules(subcommand: str) -> frozenset[str]:
    """Every ``fasrnet`` module ``fasrnet <subcommand>`` can import (``cli`` included)."""
    path, functions, modules, assigned = _cli()
    table = handlers()
    if subcommand not in table:
        raise KeyError(f"{path}: no subcommand {subcommand!r} (known: {', '.join(sorted(table))})")
    modules = set(modules)
    seen: set[str] = set()
    todo = [table[subcommand], ENTRY]  # the handler, and what main() runs around every handler
    while todo:
        name = todo.pop()
        if name in seen or name not in functions:
            continue
        seen.add(name)
        fn = functions[name]
        modules |= imported_modules(fn, CLI_MODULE)
        for n in ast.walk(fn):
            # the cli.py functions it calls (a registrar's `set_defaults(func=_train)` names a handler, never runs
            # it), and a module-level list of functions it uses (build_parser's REGISTRARS: every `_add_<stage>`)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in functions:
                todo.append(n.func.id)
            elif isinstance(n, ast.Name) and n.id in assigned:
                todo += assigned[n.id]
        todo += [table[s] for s in _dispatched(fn) if s in table]
    closure = {CLI_MODULE}  # its file, not its closure: that would be every subcommand's
    for module in modules - {CLI_MODULE}:
        closure |= module_closure(module)
    return frozenset(closure)


def command_code(cmd: str) -> tuple[str, ...]:
    """The code files (repository-relative, sorted) a ``fasrnet <subcommand> …`` command runs."""
    words = cmd.split()
    if len(words) < 2 or words[0] != PACKAGE:
        raise ValueError(f"not a fasrnet command: {cmd!r}")
    return tuple(files_of(subcommand_modules(words[1])))

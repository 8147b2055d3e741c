"""The code a stage runs, and its digest: what makes a stage rerun when the code changes (docs/workflow.md).

A stage's command is ``fasrnet <subcommand> …``; its code is the import closure of the subcommand's module,
``fasrnet/commands/<subcommand>.py``: every ``import``/``from … import`` of a ``fasrnet`` module anywhere in the
files reached (a lazy import inside a function counts: it runs when the function does; an ``if TYPE_CHECKING:``
block does not), the packages' ``__init__.py`` on the way, and package data files a module names by a string
literal (``"literature.yaml"`` beside ``tables/literature.py``). A dispatching command imports the commands it runs
(``acquire`` → ``synthesize``, ``download``). These modules are not a stage's code:

- what runs around every command (``fasrnet/cli.py``: parsing, the output locks, the error boundary, the stage's
  record): it decides nothing about what a stage writes, and no command module imports it;
- ``fasrnet/params.py``, the params schema: what a stage reads from params is tracked as values (DVC's ``params:``,
  the Snakemake stamps and the resume fingerprints hold the resolved values; ``params.yaml`` lists every key, which a
  test keeps so), so adding or documenting a key reruns nothing, and a changed value reruns what reads it;
- ``fasrnet/stages.py``, the stage registry: what it says of a stage (its command, deps, outputs and the params
  keys it reads) is in ``dvc.yaml`` and the Snakemake rules, which both tools compare themselves; adding a stage or
  changing another's priority reruns nothing;
- this module: a resumable stage's fingerprint holds the digest it computes, and a change to how digests are
  computed changes the digests themselves.

The code's identity (:func:`command_digest`) is a digest of each module's syntax tree without its docstrings and
comments (:func:`source_digest`), so an edit that cannot change what a stage computes changes nothing, and an
expression change reruns exactly the stages whose closure holds it. Both wirings and the resume fingerprints use
it: Snakemake and DVC through a file per command, ``workflow/code/<subcommand>.json``, rewritten only when the
digest changes (:func:`write_digests`).

Everything is read from the source with :mod:`ast`; nothing is imported, so the registry stays cheap and
torch-free. A test runs every stage's command and checks that each ``fasrnet`` module it imported is in its
closure or in the runner's.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

from fasrnet.errors import FasrnetError

PACKAGE = "fasrnet"
#: The package directory (``…/fasrnet``); paths below are relative to its parent, the repository root.
PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parent
CLI_MODULE = f"{PACKAGE}.cli"
#: The package of the command modules (``fasrnet/commands/<subcommand>.py``).
COMMANDS_PACKAGE = f"{PACKAGE}.commands"
#: Modules that are no stage's code though stages import them (see the module docstring): the params schema and the
#: stage registry, whose every word about a stage both tools compare directly, and this module, whose only part in a
#: stage's output is the digest it computes.
NOT_CODE = frozenset({f"{PACKAGE}.params", f"{PACKAGE}.stages", f"{PACKAGE}.codedeps"})
#: Where each stage command's code digest is kept for the workflows, one file per subcommand.
DIGEST_DIR = Path("workflow/code")
#: What parsing each file gave (its imports, its digest), by content (:class:`_ParseCache`); per checkout, not
#: committed.
CACHE_FILE = Path(".fasrnet/codedeps.json")
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
    return _parse(path)


def _parse(path: Path) -> ast.Module:
    """``path``'s syntax tree; a file Python cannot parse is one error naming it and the line."""
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        raise FasrnetError(f"{path.relative_to(ROOT).as_posix()}:{exc.lineno}: {exc.msg}: no code digest for the "
                           "stages that run it until it parses (docs/workflow.md, \"Code is a dependency\")") from None


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
    if path is None:
        return frozenset()
    # what a file imports depends on its bytes and on which modules exist (`from fasrnet.x import y`: y a module?)
    key = f"imports\0{module}\0{_bytes_key(path)}\0{_layout()}"
    found = _CACHE.get(key)
    if found is None:
        found = _CACHE.put(key, sorted(imported_modules(_tree(path), module)))
    return frozenset(found)


# --------------------------------------------------------------------------------------------------------------
# A cache of what parsing gives, by file content: reading the workflow (every `snakemake` call, and each SLURM job)
# costs a hash of each file instead of a parse. Content keys cannot go stale; a cache that cannot be read is none.


class _ParseCache:
    """``CACHE_FILE``'s entries (key → JSON value), loaded on first use, saved by :func:`write_digests`."""

    def __init__(self) -> None:
        self.entries: dict[str, object] | None = None
        self.used: set[str] = set()
        self.dirty = False

    def _load(self) -> dict[str, object]:
        if self.entries is None:
            try:
                loaded = json.loads(CACHE_FILE.read_text(encoding="utf-8"))
                self.entries = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                self.entries = {}
        return self.entries

    def get(self, key: str) -> object:
        self.used.add(key)
        return self._load().get(key)

    def put(self, key: str, value: object) -> object:
        self.used.add(key)
        self._load()[key] = value
        self.dirty = True
        return value

    def save(self) -> None:
        """Write the entries this process used or made (those of files since edited are dropped), when it made one
        or left one unused."""
        entries = self._load()
        if self.dirty or set(entries) - self.used:
            from fasrnet.io import write_text

            try:
                kept = {key: entries[key] for key in sorted(self.used) if key in entries}
                write_text(CACHE_FILE, json.dumps(kept, sort_keys=True) + "\n")
            except OSError:
                pass  # a cache: the next reader parses again
            self.dirty = False


_CACHE = _ParseCache()


def _bytes_key(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@lru_cache(maxsize=1)
def _layout() -> str:
    """The package's module files, by name: a module added or removed changes what ``from … import`` loads."""
    names = sorted(p.relative_to(ROOT).as_posix() for p in PACKAGE_DIR.rglob("*.py"))
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


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
# A command's code: its module's closure


def command_module(subcommand: str) -> str:
    """The module of ``fasrnet <subcommand>`` (``pretrain-backbone`` → ``fasrnet.commands.pretrain_backbone``)."""
    module = f"{COMMANDS_PACKAGE}.{subcommand.replace('-', '_')}"
    if subcommand.startswith("_") or subcommand == "common" or module_file(module) is None:
        known = sorted(p.stem.replace("_", "-") for p in (ROOT / COMMANDS_PACKAGE.replace(".", "/")).glob("*.py")
                       if p.stem not in ("__init__", "common"))
        raise KeyError(f"{PACKAGE}/commands: no subcommand {subcommand!r} (known: {', '.join(known)})")
    return module


@lru_cache(maxsize=None)
def subcommand_modules(subcommand: str) -> frozenset[str]:
    """Every ``fasrnet`` module ``fasrnet <subcommand>`` runs as its code: its command module's closure, less the
    modules that are no stage's code (:data:`NOT_CODE`; what they import stays)."""
    return module_closure(command_module(subcommand)) - NOT_CODE


def subcommand_of(cmd: str) -> str:
    words = cmd.split()
    if len(words) < 2 or words[0] != PACKAGE:
        raise ValueError(f"not a fasrnet command: {cmd!r}")
    return words[1]


def command_code(cmd: str) -> tuple[str, ...]:
    """The code files (repository-relative, sorted) a ``fasrnet <subcommand> …`` command runs."""
    return tuple(files_of(subcommand_modules(subcommand_of(cmd))))


# --------------------------------------------------------------------------------------------------------------
# Digests: the code without what cannot change a result


def _without_docstrings(tree: ast.AST) -> ast.AST:
    """``tree`` less its statements that only evaluate a constant: docstrings (of the module, classes, functions)
    and any other bare string. Comments are not in a syntax tree at all."""
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list):
                block[:] = [s for s in block if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    return tree


def _dump(node: object) -> str:
    """A syntax tree as text: node types and fields, no positions. Fields that are empty or ``None`` are left out,
    so a field a later Python adds with an empty default (3.12's ``type_params``) leaves the text as it was: the
    digests are the same under Python 3.11, 3.12 and 3.13 (a test compares them where those interpreters exist)."""
    if isinstance(node, ast.JoinedStr):  # 3.12.1 puts an empty piece in some f-string format specs; 3.11 and 3.13 not
        node = ast.JoinedStr(values=[v for v in node.values if not (isinstance(v, ast.Constant) and v.value == "")])
    if isinstance(node, ast.AST):
        fields = [f"{name}={_dump(value)}" for name, value in ast.iter_fields(node)
                  if value is not None and value != []]
        return f"{type(node).__name__}({','.join(fields)})"
    if isinstance(node, list):
        return "[" + ",".join(_dump(item) for item in node) + "]"
    return repr(node)


@lru_cache(maxsize=None)
def source_digest(path: Path) -> str:
    """sha256 of a module's normal form: its syntax tree without docstrings and comments, formatting and
    positions ignored. A package data file (yaml, json, …) is data: sha256 of its bytes."""
    if path.suffix != ".py":
        return _bytes_key(path)
    key = f"digest\0{_bytes_key(path)}"
    digest = _CACHE.get(key)
    if not isinstance(digest, str):
        digest = str(_CACHE.put(key, hashlib.sha256(_dump(_without_docstrings(_parse(path))).encode()).hexdigest()))
    return digest


@lru_cache(maxsize=None)
def command_record(subcommand: str) -> dict[str, object]:
    """The code identity of ``fasrnet <subcommand>``: its digest, and the digest of each file it runs (so a changed
    digest can be traced to the file that changed it)."""
    files = {rel: source_digest(ROOT / rel) for rel in files_of(subcommand_modules(subcommand))}
    digest = hashlib.sha256("".join(f"{rel}\0{d}\n" for rel, d in sorted(files.items())).encode()).hexdigest()
    return {"command": subcommand, "digest": digest, "files": files}


def command_digest(subcommand: str) -> str:
    """The digest of the code ``fasrnet <subcommand>`` runs (:func:`command_record`); what the workflows and the
    resume fingerprints compare."""
    return str(command_record(subcommand)["digest"])


def digest_path(subcommand: str, directory: Path = DIGEST_DIR) -> Path:
    return directory / f"{subcommand}.json"


def digest_text(subcommand: str) -> str:
    return json.dumps(command_record(subcommand), indent=1, sort_keys=True) + "\n"


def write_digest(subcommand: str, directory: Path = DIGEST_DIR, dated: float | None = None) -> Path:
    """``fasrnet <subcommand>``'s digest file, rewritten only when its content changes (an unchanged file keeps its
    date, which is what Snakemake compares). ``dated``: the time a rewritten file is dated at (a stage's command
    dates it at its start, so the outputs it just made are newer)."""
    from fasrnet.io import write_text

    path, text = digest_path(subcommand, directory), digest_text(subcommand)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        write_text(path, text)
        if dated is not None:
            os.utime(path, (dated, dated))
    return path


def write_digests(subcommands: list[str], directory: Path = DIGEST_DIR) -> dict[str, Path]:
    """:func:`write_digest` for each of ``subcommands`` (the registry's stage commands)."""
    written = {name: write_digest(name, directory) for name in subcommands}
    _CACHE.save()
    return written

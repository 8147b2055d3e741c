"""Checkpoints are data, never code (docs/resume.md, "Checkpoints are data"): every ``torch.load`` under
``fasrnet/`` passes ``weights_only=True`` literally, and nothing there unpickles another way (``pickle.load``,
``np.load(..., allow_pickle=True)``) or widens the safe loader (``add_safe_globals``, ``safe_globals``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fasrnet"


def _dotted(node: ast.AST) -> str:
    """``torch.serialization.load`` for that attribute chain; ``""`` for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _keyword_is(call: ast.Call, name: str, value: object) -> bool:
    return any(k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is value for k in call.keywords)


def problems(source: str, where: str) -> list[str]:
    """Each unsafe load in ``source``: ``where:line: what``."""
    tree = ast.parse(source)
    # names bound by ``from torch import load`` / ``from pickle import loads as x`` and the like
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("torch", "torch.serialization", "pickle"):
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("add_safe_globals", "safe_globals"):
            found.append(f"{where}:{node.lineno}: {node.attr} widens the weights_only loader")
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        name = aliases.get(name, name)
        if name in ("torch.load", "torch.serialization.load") and not _keyword_is(node, "weights_only", True):
            found.append(f"{where}:{node.lineno}: {name}(...) without weights_only=True")
        elif name in ("pickle.load", "pickle.loads", "pickle.Unpickler"):
            found.append(f"{where}:{node.lineno}: {name}(...) unpickles code")
        elif name in ("np.load", "numpy.load") and not all(
                k.arg != "allow_pickle" or _keyword_is(node, "allow_pickle", False) for k in node.keywords):
            found.append(f"{where}:{node.lineno}: {name}(...) with allow_pickle other than False")
    return found


def test_every_torch_load_in_the_package_reads_data_only():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 20
    found = [p for path in files for p in problems(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE)))]
    assert not found, "\n".join(found)
    # the one reader really is there (the check above would pass on a package that loads nothing)
    assert "weights_only=True" in (PACKAGE / "models" / "checkpoint.py").read_text(encoding="utf-8")


@pytest.mark.parametrize("source", [
    "import torch\ntorch.load(p)\n",
    "import torch\ntorch.load(p, weights_only=False)\n",
    "import torch\ntorch.load(p, weights_only=not trusted)\n",
    "import torch\ntorch.serialization.load(p)\n",
    "from torch import load\nload(p)\n",
    "from torch import load as tl\ntl(p, map_location='cpu')\n",
    "import pickle\npickle.loads(b)\n",
    "import numpy as np\nnp.load(p, allow_pickle=True)\n",
    "import torch\ntorch.serialization.add_safe_globals([x])\n",
])
def test_the_check_catches(source):
    assert problems(source, "x.py")


@pytest.mark.parametrize("source", [
    "import torch\ntorch.load(p, map_location='cpu', weights_only=True)\n",
    "import numpy as np\nnp.load(p, allow_pickle=False)\nnp.load(p)\n",
])
def test_the_check_passes(source):
    assert not problems(source, "x.py")

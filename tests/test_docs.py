"""The repository explains itself (issue 15): what ``fasrnet/`` cites is in this repository.

(a) No text file under ``fasrnet/`` refers to a design note outside the repository: none contains ``shared/``,
    ``model.md §``, ``poseval.md``, ``design/`` or ``data-sources`` (the first three are exactly the acceptance check
    ``grep -rn "shared/\\|model.md §\\|poseval.md" fasrnet/``), names a note without its ``docs/`` folder, or uses a
    bare ``§N`` that is neither the paper's section nor part of a ``docs/…`` citation.
(b) Every ``docs/<name>.md`` mentioned under ``fasrnet/``, in ``README.md`` or in ``docs/*.md`` exists, and every
    section it cites (``docs/model.md, §3``, ``docs/metric.md, §4–§6``, ``docs/data.md section 2``) is a numbered
    heading (``## §3. …``) of that file. Relative Markdown links in ``README.md`` and ``docs/*.md`` resolve.

Citations are written ``docs/<name>.md, §N`` (with the comma): the acceptance grep's ``model.md §`` would match
``docs/model.md §N`` itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "fasrnet"

#: Substrings no file under fasrnet/ may contain.
FORBIDDEN = ("shared/", "model.md §", "poseval.md", "design/", "data-sources")
#: A design note named without its folder (``model.md §3``, ``metric.md``): must be ``docs/<name>.md``.
BARE_NOTE = re.compile(r"(?<![\w/.-])(?:model|metric|data|poseval|fasrnet-paper)\.md\b")
_NUM = r"\d+(?:\.\d+)*"
_SEC = r"(?:§|sections?[ \t]+)"
#: ``docs/<name>.md`` and the sections cited right after it (``, §4–§6``, `` section 2``, ``, §2 and §12``).
CITATION = re.compile(
    rf"docs/(?P<name>[A-Za-z0-9_-]+\.md)"
    rf"(?P<tail>[`'\"]*,?[ \t]*(?:{_SEC}{_NUM}(?:[ \t]*(?:[–-]|,|and)[ \t]*{_SEC}?{_NUM})*)?)"
)
_TAIL_ITEM = re.compile(rf"(?P<sep>[–-]|,|and)?[ \t]*{_SEC}?(?P<num>{_NUM})")
#: What may stand right before a ``§`` that is not part of a docs citation: the paper's own sections.
PAPER_SECTION = re.compile(rf"paper[ \t]+(?:§{_NUM}[–-])?$")
HEADING = re.compile(rf"^#{{1,6}}[ \t]+§(?P<num>{_NUM})\b", re.M)
MD_LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")


def text_files(root: Path) -> list[Path]:
    """Every text file under ``root`` (UTF-8, no NUL bytes), caches left out."""
    out = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        out.append(path)
    return out


def cited_sections(tail: str) -> list[str]:
    """The section numbers a citation's tail names; ranges (``§4–§6``) expand to every section in between."""
    out: list[str] = []
    for m in _TAIL_ITEM.finditer(tail):
        num = m.group("num")
        if m.group("sep") in ("–", "-") and out and out[-1].isdigit() and num.isdigit():
            out += [str(k) for k in range(int(out[-1]) + 1, int(num) + 1)]
        else:
            out.append(num)
    return out


def headings(doc: Path) -> set[str]:
    return {m.group("num") for m in HEADING.finditer(doc.read_text(encoding="utf-8"))}


def citation_problems(text: str, where: str, docs_dir: Path) -> list[str]:
    """(b) for one text: every cited docs file exists and has the cited numbered sections."""
    problems = []
    for m in CITATION.finditer(text):
        doc = docs_dir / m.group("name")
        line = text.count("\n", 0, m.start()) + 1
        if not doc.is_file():
            problems.append(f"{where}:{line}: docs/{m.group('name')} does not exist")
            continue
        have = headings(doc)
        for num in cited_sections(m.group("tail")):
            if num not in have:
                problems.append(f"{where}:{line}: docs/{m.group('name')} has no section §{num} "
                                f"(its sections: {', '.join(sorted(have, key=_key)) or 'none'})")
    return problems


def reference_problems(text: str, where: str) -> list[str]:
    """(a) for one text: no reference to a note outside the repository, no bare note name or ``§``."""
    problems = []
    lines = text.splitlines()
    for n, line in enumerate(lines, start=1):
        for bad in FORBIDDEN:
            if bad in line:
                problems.append(f"{where}:{n}: refers to {bad!r}: {line.strip()}")
        for m in BARE_NOTE.finditer(line):
            problems.append(f"{where}:{n}: {m.group(0)} without docs/ in front: {line.strip()}")
    covered = [m.span() for m in CITATION.finditer(text)]
    for m in re.finditer("§", text):
        i = m.start()
        if any(a <= i < b for a, b in covered) or PAPER_SECTION.search(text[max(0, i - 40):i]):
            continue
        n = text.count("\n", 0, i) + 1
        problems.append(f"{where}:{n}: a § that is neither the paper's section nor a docs/ citation: "
                        f"{lines[n - 1].strip()}")
    return problems


def _key(num: str) -> tuple[int, ...]:
    return tuple(int(p) for p in num.split("."))


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


# --------------------------------------------------------------------------------------------------------------


def test_the_package_refers_to_no_note_outside_the_repository():
    files = text_files(PACKAGE)
    assert any(p.suffix == ".json" for p in files) and any(p.suffix == ".yaml" for p in files)
    problems = [p for path in files for p in reference_problems(path.read_text(encoding="utf-8"), _rel(path))]
    assert not problems, "\n".join(problems)


def test_every_docs_file_and_section_the_package_cites_exists():
    files = text_files(PACKAGE)
    problems = [p for path in files for p in citation_problems(path.read_text(encoding="utf-8"), _rel(path),
                                                               REPO / "docs")]
    assert not problems, "\n".join(problems)
    cited = {m.group("name") for path in files for m in CITATION.finditer(path.read_text(encoding="utf-8"))}
    assert {"model.md", "metric.md", "data.md"} <= cited


def test_readme_and_docs_cite_and_link_only_what_exists():
    docs = sorted((REPO / "docs").glob("*.md"))
    problems = []
    for path in [REPO / "README.md", *docs]:
        text = path.read_text(encoding="utf-8")
        problems += citation_problems(text, _rel(path), REPO / "docs")
        for m in MD_LINK.finditer(text):
            target = m.group("target").split("#")[0]
            if not target or re.match(r"[a-z]+:", target):
                continue  # an anchor or a URL
            if not (path.parent / target).exists():
                problems.append(f"{_rel(path)}: link to {m.group('target')}, which does not exist")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", ["model.md", "metric.md", "data.md"])
def test_the_notes_number_their_sections_from_zero_without_gaps(name):
    nums = sorted((int(n) for n in headings(REPO / "docs" / name) if n.isdigit()))
    assert nums == list(range(len(nums))) and len(nums) > 5, nums


# The checks themselves: each kind of bad reference is caught (so the tests above can fail).


@pytest.mark.parametrize(("text", "expected"), [
    ("follows ``shared/design/poseval.md`` §2", "'shared/'"),
    ("the loss (model.md §4)", "'model.md §'"),
    ("the quirks of poseval.md", "'poseval.md'"),
    ("from design/model.md", "'design/'"),
    ("data-sources.md 1.1", "'data-sources'"),
    ("see model.md, §4", "without docs/"),
    ("# §4: ignore regions", "neither the paper's section"),
])
def test_reference_check_catches(text, expected):
    problems = reference_problems(text, "x.py")
    assert problems and any(expected in p for p in problems), problems


@pytest.mark.parametrize(("text", "expected"), [
    ("see ``docs/nonexistent.md``", "does not exist"),
    ("``docs/model.md``, §99", "no section §99"),
    ("docs/metric.md, §4–§99", "no section §13"),
    ("docs/data.md section 42", "no section §42"),
    ("``docs/model.md``, §2 and §77", "no section §77"),
])
def test_citation_check_catches(text, expected):
    problems = citation_problems(text, "x.py", REPO / "docs")
    assert problems and any(expected in p for p in problems), problems


def test_good_references_pass():
    text = ("(paper §3.1.1, Eqs. 1–7; ``docs/model.md``, §3) and docs/metric.md, §4–§6; "
            "docs/data.md section 2; ``docs/model.md``, §2 and §12; docs/synthetic.md; paper §3.1–§3.2")
    assert reference_problems(text, "x.py") == []
    assert citation_problems(text, "x.py", REPO / "docs") == []
    assert cited_sections(", §4–§6") == ["4", "5", "6"]
    assert cited_sections(" section 2") == ["2"]
    assert cited_sections(", §2 and §12") == ["2", "12"]

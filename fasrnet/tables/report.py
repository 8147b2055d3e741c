"""The Snakemake report, ``snakemake --report results/report.html`` (docs/report.md).

Snakemake builds the report from the ``tables`` rule's output that its ``report()`` flag names (the directory
``results/figures/``), with one caption file for every item (``workflow/report/result.rst``) and the workflow
description (``workflow/report/workflow.rst``), both reStructuredText rendered with jinja2. This module gives them
what they show:

- :func:`write_tables_html`: ``results/tables.md`` as a standalone HTML page, ``results/figures/tables.html``,
  which ``fasrnet tables`` writes beside the figures (the report shows HTML in a frame but markdown only as a
  download). Inside ``results/figures/`` it belongs to the tables stage's existing directory output: the stage
  registry and ``dvc.yaml`` stay as they are;
- :func:`report_context`: what ``workflow/Snakefile`` puts in ``config["fasrnet_report"]``, the only data
  Snakemake hands to both rst files (a :class:`ReportContext`, computed only when read): a caption per item (the
  figures' from :data:`fasrnet.tables.figures.FIGURES`), the validated params with the defaults filled in, what
  differs from the built-in defaults, and the stages whose params changed after ``results/tables.md`` was written;
- :func:`report_category`: the ``category=`` of the ``report()`` flag (``Tables`` or ``Figures``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

from fasrnet import paths
from fasrnet.io import write_text
from fasrnet.params import RUN_GROUPS, Params

#: The HTML page of the tables, inside the figures directory (the tables stage's directory output).
TABLES_PAGE = "tables.html"
#: The key of Snakemake's ``config`` that ``workflow/report/*.rst`` read.
CONFIG_KEY = "fasrnet_report"

_CSS = """\
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; background: #fff;
       margin: 1.5em auto; padding: 0 1.5em; max-width: 110em; }
h1 { font-size: 1.6em; }
h2 { font-size: 1.2em; margin-top: 1.8em; padding-bottom: .2em; border-bottom: 1px solid #d0d7de; }
table { border-collapse: collapse; margin: .6em 0 1em; font-size: 13px; display: block; overflow-x: auto; }
th, td { border: 1px solid #d0d7de; padding: 3px 7px; vertical-align: top; }
th { background: #f6f8fa; }
tr:nth-child(2n) td { background: #f9fafb; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 90%; background: #eff1f3;
       padding: 0 3px; border-radius: 3px; }
p.footnotes { font-size: 12px; color: #57606a; }
sup.fn a { text-decoration: none; }
"""

_FOOTNOTE_REF = re.compile(r"\[\^(\d+)\]")
_FOOTNOTE_DEF = re.compile(r"^\[\^(\d+)\]:\s*")


def _markdown() -> Any:
    from markdown_it import MarkdownIt

    # Raw HTML in the markdown is shown as text, never passed through.
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def _rebase(href: str, source_dir: Path, page_dir: Path) -> str:
    """A relative link of ``results/tables.md`` (relative to its directory) made relative to the page's."""
    if not href or href.startswith(("#", "/")) or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", href):
        return href
    return Path(os.path.relpath(source_dir / href, page_dir)).as_posix()


def _footnotes(tokens: list[Any], token_cls: Any) -> None:
    """GitHub's footnotes (``[^1]`` in the text, ``[^1]: …`` paragraphs after each table), which commonmark
    leaves as text: references become superscript links, definitions a small paragraph with anchors."""

    def html(content: str) -> Any:
        t = token_cls("html_inline", "", 0)
        t.content = content
        return t

    for i, tok in enumerate(tokens):
        if tok.type != "inline" or not tok.children:
            continue
        is_def = (i > 0 and tokens[i - 1].type == "paragraph_open"
                  and bool(_FOOTNOTE_DEF.match(tok.children[0].content if tok.children[0].type == "text" else "")))
        if is_def:
            tokens[i - 1].attrSet("class", "footnotes")
        children = []
        line_start = True
        for child in tok.children:
            if child.type == "softbreak" and is_def:
                children.append(token_cls("hardbreak", "br", 0))
                line_start = True
                continue
            if child.type != "text":
                children.append(child)
                line_start = False
                continue
            text = child.content
            if is_def and line_start and (m := _FOOTNOTE_DEF.match(text)):
                n = m.group(1)
                children.append(html(f'<sup id="fn-{n}"><a href="#fnref-{n}">{n}</a></sup> '))
                text = text[m.end():]
            line_start = False
            pos = 0
            for m in _FOOTNOTE_REF.finditer(text):
                if m.start() > pos:
                    children.append(_text(token_cls, text[pos:m.start()]))
                n = m.group(1)
                children.append(html(f'<sup class="fn" id="fnref-{n}"><a href="#fn-{n}">{n}</a></sup>'))
                pos = m.end()
            if pos < len(text):
                children.append(_text(token_cls, text[pos:]))
        tok.children = children


def _text(token_cls: Any, content: str) -> Any:
    t = token_cls("text", "", 0)
    t.content = content
    return t


def tables_html(markdown: str, source_dir: str | Path = paths.TABLES_FILE.parent,
                page_dir: str | Path = paths.FIGURES) -> str:
    """``results/tables.md`` (its text) as one standalone HTML page: no scripts, no external resources, no
    timestamp (the same tables give the same bytes). Relative links are rebased from ``source_dir`` (the markdown
    file's directory) to ``page_dir`` (the page's)."""
    from html import escape

    from markdown_it.token import Token

    md = _markdown()
    tokens = md.parse(markdown)
    for tok in tokens:
        for child in tok.children or []:
            if child.type == "link_open" and child.attrGet("href") is not None:
                child.attrSet("href", _rebase(str(child.attrGet("href")), Path(source_dir), Path(page_dir)))
    _footnotes(tokens, Token)
    body = md.renderer.render(tokens, md.options, {})
    title = next((line[2:].strip() for line in markdown.splitlines() if line.startswith("# ")), "Tables")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{escape(title)}</title>\n<style>\n{_CSS}</style>\n</head>\n<body>\n{body}</body>\n</html>\n")


def write_tables_html(markdown: str, tables_file: str | Path = paths.TABLES_FILE,
                      figures_dir: str | Path = paths.FIGURES) -> Path:
    """Write :func:`tables_html` of ``markdown`` (the text of ``tables_file``) as ``figures_dir/tables.html``."""
    page = Path(figures_dir) / TABLES_PAGE
    write_text(page, tables_html(markdown, Path(tables_file).parent, Path(figures_dir)))
    return page


# ----------------------------------------------------------------------------------------------------------
# What the report's rst files show (config["fasrnet_report"])


def report_category(wildcards: Any) -> str:
    """The report category of an item of ``results/figures/``: the tables page or a figure. ``wildcards`` are
    the ``report()`` patterns': ``{name}.html`` or ``{name}.png``."""
    return "Tables" if f"{wildcards.name}.html" == TABLES_PAGE else "Figures"


def _sections(markdown: str) -> list[str]:
    """The ``##`` headings of the tables, shortened to their first sentence ("Table 1", "Orderings")."""
    out = []
    for line in markdown.splitlines():
        if line.startswith("## "):
            out.append(re.split(r"\.\s|\s\(", line[3:].strip(), maxsplit=1)[0])
    return out


def tables_caption(root: str | Path = ".") -> str:
    tables = Path(root) / paths.TABLES_FILE
    text = tables.read_text(encoding="utf-8") if tables.is_file() else ""
    caption = ("**Tables.** ``results/tables.md`` as a web page: the paper's Tables 1–10 with our measured rows "
               "beside the quoted ones (Δ = measured − paper), written by ``fasrnet tables`` from the metrics of "
               "this run and the literature file ``fasrnet/tables/literature.yaml``.")
    sections = _sections(text)
    if sections:
        caption += " Sections: " + ", ".join(sections) + "."
    return caption + "\n"


def captions(params: Params, root: str | Path = ".") -> dict[str, str]:
    """The caption (reStructuredText) of every report item, by its name without suffix."""
    from fasrnet.tables.figures import FIGURES

    out = {Path(TABLES_PAGE).stem: tables_caption(root)}
    out.update({f.stem: f.caption(params) for f in FIGURES})
    return out


def _short(value: Any, limit: int = 90) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _runs_line(group: str, names: list[str], default: list[str]) -> str:
    def names_text(ns: list[str]) -> str:
        if not ns:
            return "none"
        return ", ".join(ns) if len(ns) <= 4 else f"{ns[0]} … {ns[-1]} ({len(ns)} runs)"

    return f"``runs.{group}``: {names_text(names)} (default: {names_text(default)})"


def _diff(value: Any, default: Any, key: str, out: list[str]) -> None:
    if isinstance(value, dict) and isinstance(default, dict):
        for k in list(value) + [k for k in default if k not in value]:
            sub = f"{key}.{k}" if key else k
            if k not in default:
                out.append(f"``{sub}``: ``{_short(value[k])}`` (not in the defaults)")
            elif k not in value:
                out.append(f"``{sub}``: not set (default ``{_short(default[k])}``)")
            else:
                _diff(value[k], default[k], sub, out)
    elif value != default:
        out.append(f"``{key}``: ``{_short(value)}`` (default ``{_short(default)}``)")


def changed_from_defaults(params: Params) -> list[str]:
    """The validated params that differ from the built-in defaults, one rst line each; a run group whose run
    names differ is one line."""
    value, default = params.model_dump(mode="json"), Params().model_dump(mode="json")
    out: list[str] = []
    runs, default_runs = value.pop("runs"), default.pop("runs")
    _diff(value, default, "", out)
    for group in runs:
        if list(runs[group]) != list(default_runs.get(group, {})):
            out.append(_runs_line(group, list(runs[group]), list(default_runs.get(group, {}))))
        else:
            _diff(runs[group], default_runs[group], f"runs.{group}", out)
    return out


def stale_stages(params: Params, root: str | Path = ".") -> list[str]:
    """Stages whose params changed after ``results/tables.md`` was written: their Snakemake params stamp
    (``.fasrnet/stamps/``, rewritten when a stage's values change) is newer than the tables. Empty when the
    tables are missing (the report then fails on its own) or current."""
    from fasrnet.record import stamp_path
    from fasrnet.stages import instances

    tables = Path(root) / paths.TABLES_FILE
    if not tables.is_file():
        return []
    written = tables.stat().st_mtime
    out = []
    for inst in instances(params):
        stamp = Path(root) / stamp_path(inst.name)
        if stamp.is_file() and stamp.stat().st_mtime > written:
            out.append(inst.name)
    return out


def report_context(params: Params, root: str | Path = ".") -> dict[str, Any]:
    """What ``workflow/report/*.rst`` show: plain strings, lists and dicts."""
    from fasrnet.tables.document import head_label

    runs = {group: list(params.runs.group(group)) for group in RUN_GROUPS}
    stale = stale_stages(params, root)
    return {
        "captions": captions(params, root),
        "datasets": ", ".join(params.data.datasets),
        "runs": runs,
        "runs_text": "; ".join(f"{group}: {', '.join(names) or 'none'}" for group, names in runs.items()),
        "head": head_label(params.model).replace("**", ""),
        "changed": changed_from_defaults(params),
        "stale": stale,
        "stale_rst": ", ".join(f"``{name}``" for name in stale),
        "params_yaml": yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False, allow_unicode=True,
                                      width=110),
    }


class ReportContext(dict):
    """``config["fasrnet_report"]``: :func:`report_context`, computed when a key is first read. Only the report's
    rst files read it, so a Snakemake run (which reads the Snakefile once per invocation, and once per job on a
    cluster) never pays for it, and a fault in it can only fail the report."""

    def __init__(self, params: Params, root: str | Path = "."):
        super().__init__()
        self._params, self._root, self._filled = params, root, False

    def __missing__(self, key: str) -> Any:
        if not self._filled:
            self._filled = True
            self.update(report_context(self._params, self._root))
            if key in self:
                return self[key]
        raise KeyError(key)

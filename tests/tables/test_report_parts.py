"""What the Snakemake report shows (fasrnet/tables/report.py, workflow/report/*.rst; docs/report.md), without
Snakemake: the tables as an HTML page, a caption of its own for every figure, the params and their changes, the
stale-params warning, and both rst files rendered as Snakemake renders them (jinja2, then docutils), with every
docutils warning an error. tests/workflow/test_report.py makes and opens a real report."""

import os
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
from docutils.core import publish_parts
from jinja2 import Environment

from fasrnet.params import Params, validate_params
from fasrnet.stages import instances
from fasrnet.tables import report
from fasrnet.tables.command import run_tables
from fasrnet.tables.document import build_tables
from fasrnet.tables.figures import FIGURE_NAMES, FIGURES
from fasrnet.workflow import stamp_path, write_stamps

sys.path.insert(0, str(Path(__file__).parent))
from test_tables import write_fake_results  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TINY = validate_params({"data": {"datasets": ["syn17"]}, "model": {"backbone_width": 4},
                        "runs": {"main": {"main_syn17": {"dataset": "syn17"}}, "ablation": {}, "alpha": {},
                                 "seed": {}}})


def rst(text: str) -> str:
    """docutils' HTML body of ``text`` as Snakemake makes it; any docutils warning (bad markup, unknown
    reference) fails."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # writer_name, which Snakemake passes too
        return publish_parts(text, writer_name="html",
                             settings_overrides={"halt_level": 2, "report_level": 2})["body"]


def render(template: str, **snakemake) -> str:
    """``workflow/report/<template>`` as Snakemake renders it: jinja2 (its settings), then docutils."""
    env = Environment(trim_blocks=True, lstrip_blocks=True)
    text = (REPO / "workflow" / "report" / template).read_text()
    return rst(env.from_string(text).render(snakemake=SimpleNamespace(**snakemake)))


def test_tables_html_renders_tables_footnotes_and_rebased_links():
    md = ("# Title\n\nSome **bold** <b>raw</b> and [a figure](figures/a.png), [web](https://x.org/y).\n\n"
          "| A | B |\n|---|---:|\n| 1 [^1] | 2 |\n\n[^1]: a note\n[^2]: another\n")
    page = report.tables_html(md, "results", "results/figures")
    assert "<title>Title</title>" in page and "<table>" in page and '<td style="text-align:right">2</td>' in page
    assert "&lt;b&gt;raw&lt;/b&gt;" in page  # raw HTML is shown as text, never passed through
    assert 'href="a.png"' in page and 'href="https://x.org/y"' in page
    assert '<sup class="fn" id="fnref-1"><a href="#fn-1">1</a></sup>' in page
    assert '<p class="footnotes"><sup id="fn-1"><a href="#fnref-1">1</a></sup> a note<br />' in page
    assert '<sup id="fn-2">' in page and "[^" not in page
    assert "<script" not in page and "http" not in page.replace("https://x.org/y", "")  # standalone
    assert report.tables_html(md) == report.tables_html(md)


def test_tables_stage_writes_the_page_beside_the_figures(tmp_path, monkeypatch):
    root = tmp_path
    params = Params()
    write_fake_results(root, params)
    monkeypatch.chdir(root)
    written = run_tables(params, strict=True)
    page = root / "results" / "figures" / report.TABLES_PAGE
    assert page in [root / p for p in written]
    html = page.read_text()
    for k in range(1, 11):
        assert f"<h2>Table {k}. " in html
    assert html.count("<table>") >= 10 and "|---" not in html and "**" not in html
    for name in FIGURE_NAMES:  # results/tables.md's links to the figures, from the page beside them
        assert f'href="{name}"' in html
    assert sorted(p.name for p in page.parent.iterdir()) == sorted([*FIGURE_NAMES, report.TABLES_PAGE])


def test_every_figure_has_a_caption_of_its_own_that_renders():
    caps = report.captions(Params(), "/nonexistent")
    assert set(caps) == {f.stem for f in FIGURES} | {"tables"}
    assert report.TABLES_PAGE[:-5] not in {f.stem for f in FIGURES}  # names without suffix stay unique
    assert len(set(caps.values())) == len(caps)
    for params in (Params(), TINY, validate_params({"train": {"val_every": 0}})):
        for f in FIGURES:
            body = rst(f.caption(params))
            assert body.startswith(f"<p><strong>{f.title}.</strong>"), body
            assert "mailto:" not in body and "<a " not in body
    assert "``seed_0``" in FIGURES[1].caption(Params()) and "no band" in FIGURES[1].caption(TINY)


def test_report_category():
    assert report.report_category(SimpleNamespace(name="tables")) == "Tables"
    assert {report.report_category(SimpleNamespace(name=f.stem)) for f in FIGURES} == {"Figures"}


def test_changed_from_defaults():
    assert report.changed_from_defaults(Params()) == []
    lines = report.changed_from_defaults(TINY)
    assert '``data.datasets``: ``["syn17"]`` (default ``["syn17", "syn18"]``)' in lines
    assert "``model.backbone_width``: ``4`` (default ``16``)" in lines
    assert "``runs.main``: main_syn17 (default: main_syn17, main_syn18)" in lines
    assert "``runs.alpha``: none (default: alpha_00 … alpha_08 (5 runs))" in lines
    one = validate_params({"runs": {**Params().model_dump(mode="json")["runs"],
                                    "main": {"main_syn17": {"dataset": "syn17", "alpha": 0.3},
                                             "main_syn18": {"dataset": "syn18"}}}})
    assert report.changed_from_defaults(one) == ["``runs.main.main_syn17.alpha``: ``0.3`` (default ``null``)"]


def test_stale_stages_are_those_whose_params_changed_after_the_tables(tmp_path):
    assert report.stale_stages(TINY, tmp_path) == []  # no tables yet: nothing to be stale
    write_stamps(TINY, tmp_path / ".fasrnet" / "stamps")
    tables = tmp_path / "results" / "tables.md"
    tables.parent.mkdir(parents=True)
    tables.write_text("# T\n")
    assert report.stale_stages(TINY, tmp_path) == []  # first stamps are dated at the epoch
    changed = validate_params({**TINY.model_dump(mode="json"), "train": {"epochs": 2}})
    write_stamps(changed, tmp_path / ".fasrnet" / "stamps")  # what Snakemake's next parse does after the change
    old = tables.stat().st_mtime - 10
    os.utime(tables, (old, old))
    # train.epochs: read by every training and by the tables (they print it)
    assert report.stale_stages(changed, tmp_path) == [i.name for i in instances(changed)
                                                      if i.template in ("train_main", "tables")]
    assert (tmp_path / stamp_path("tables")).stat().st_mtime > tables.stat().st_mtime


def test_report_context_is_computed_only_when_read(monkeypatch):
    calls = []
    monkeypatch.setattr(report, "report_context", lambda p, r: calls.append(1) or {"stale": []})
    ctx = report.ReportContext(TINY)
    assert calls == [] and isinstance(ctx, dict)
    assert ctx["stale"] == [] and ctx["stale"] == [] and calls == [1]
    with pytest.raises(KeyError):
        ctx["nothing"]


def test_workflow_description_renders_the_params_and_the_stale_warning(tmp_path):
    ctx = report.report_context(TINY, tmp_path)
    body = render("workflow.rst", config={report.CONFIG_KEY: ctx})
    assert "Parameters of this run" in body and "warning" not in body
    assert "main: main_syn17; ablation: none; alpha: none; seed: none." in body
    assert "model.backbone_width" in body and "backbone_width</span>" in body  # the change and the full YAML
    ctx["stale"], ctx["stale_rst"] = ["train_main@main_syn17"], "``train_main@main_syn17``"
    body = render("workflow.rst", config={report.CONFIG_KEY: ctx})
    assert 'class="admonition warning"' in body and "train_main&#64;main_syn17</tt>" in body
    ctx = report.report_context(Params(), tmp_path)
    assert "Every value is the built-in default" in render("workflow.rst", config={report.CONFIG_KEY: ctx})


@pytest.mark.parametrize("name", ["tables", *(f.stem for f in FIGURES)])
def test_result_caption_renders_for_every_item(tmp_path, name):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "tables.md").write_text(build_tables(Params(), tmp_path, figures_dir=None))
    ctx = report.report_context(Params(), tmp_path)
    body = render("result.rst", config={report.CONFIG_KEY: ctx}, wildcards=SimpleNamespace(name=name))
    title = "Tables" if name == "tables" else next(f.title for f in FIGURES if f.stem == name)
    assert body.startswith(f"<p><strong>{title}.</strong>"), body
    if name == "tables":
        assert "Sections: Table 1, Table 2," in body and "Table 10, Orderings" in body

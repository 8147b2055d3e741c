"""README's report command (`snakemake --report results/report.html`) on a tiny run, then the report
opened in headless Chromium (docs/report.md): it loads without console errors, every figure of results/figures/ is
drawn and has a caption of its own, the tables are an HTML page, Snakemake's runtime statistics and the run's params
are there.

One tiny Snakemake run for the module (the main run on one dataset, ~1 min on 2 cores; complexity.json made at a
tiny width beforehand, as in test_end_to_end). The browser is driven over the DevTools protocol on a pipe
(--remote-debugging-pipe: no websocket package needed). Without chromium (Debian: `apt-get install chromium`)
the browser tests skip, unless FASRNET_REQUIRE_BROWSER=1 (set by .ci/run) makes that a failure."""

import base64
import html
import io
import json
import os
import re
import select
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fasrnet.params import load_params
from fasrnet.tables.figures import FIGURES

sys.path.insert(0, str(Path(__file__).parent))
from tiny_project import MAIN_ONLY, copy_workflow  # noqa: E402
from tiny_project import run as _run

REPO = Path(__file__).resolve().parents[2]
#: The rules the tiny run executes (complexity is made beforehand), all of which the statistics must show.
RULES_RUN = {"acquire", "crops", "backbone", "adapt_backbone", "extract", "train_main", "predict_main",
             "evaluate_main", "predict_backbone", "evaluate_backbone", "predict_backbone_adapted",
             "evaluate_backbone_adapted", "tables"}
WINDOW = (1400, 1000)


def report_command() -> list[str]:
    """README's command for the report (the row "report"), as the test runs it."""
    row = next(line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("| report |"))
    return shlex.split(re.search(r"`(snakemake [^`]*--report [^`]*)`", row).group(1))


# ----------------------------------------------------------------------------------------------------------
# The tiny run and its report


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = copy_workflow(tmp_path_factory.mktemp("report"), MAIN_ONLY)  # fasrnet/: stages depend on it
    _run(["snakemake", "--cores", "2", "all"], root)
    out = _run(report_command(), root)
    assert "Report created." in out, out[-3000:]
    return root


@pytest.fixture(scope="module")
def report(project):
    """The report's data as its page holds it: results (path → name, caption, mime, data URI), runtimes."""
    page = (project / "results" / "report.html").read_text()
    data = {}
    for script, var in (("results", "results"), ("runtimes", "runtimes_spec"), ("workflow-desc", "workflow_desc")):
        m = re.search(rf'<script id="{script}">\s*var {var} = (.*?);\s*</script>', page, re.S)
        assert m, f"report.html has no {var}"
        data[var] = json.loads(m.group(1))
    return data


def _words(text: str) -> str:
    return " ".join(text.split())


def _html_text(text: str) -> str:
    return _words(html.unescape(re.sub(r"<[^>]+>", "", text)))


def _rst_text(text: str) -> str:
    return _words(text.replace("``", "").replace("**", "").replace("\\", ""))


def test_every_figure_is_in_the_report_with_a_caption_of_its_own(project, report):
    params = load_params(project / "params.yaml")
    results = report["results"]
    figures = sorted(p.name for p in (project / "results" / "figures").glob("*.png"))
    assert figures == sorted(f.name for f in FIGURES)
    captions = {}
    for f in FIGURES:
        item = results[f"results/figures/{f.name}"]
        assert item["mime_type"] == "image/png"
        caption = _html_text(item["caption"])
        assert caption.startswith(f"{f.title}. ") and _rst_text(f.caption(params)) in caption, (f.name, caption)
        captions[f.name] = caption
    assert len(set(captions.values())) == len(captions), "one caption for several figures"
    assert "main_syn17" in captions["per_joint_ap.png"] and "no band" in captions["alpha_curve.png"]


def test_tables_are_an_html_page_in_the_report(report):
    item = report["results"]["results/figures/tables.html"]
    assert item["mime_type"] == "text/html" and "Tables 1–10" in item["caption"]
    page = base64.b64decode(item["data_uri"].split("base64,", 1)[1]).decode()
    assert page.count("<table>") >= 10 and "|---" not in page
    for k in range(1, 11):
        assert f"<h2>Table {k}. " in page


def test_runtime_statistics_cover_every_rule_that_ran(report):
    rows = report["runtimes_spec"]["data"]["values"]
    assert RULES_RUN <= {r["rule"] for r in rows}
    assert all(r["runtime"] >= 0 for r in rows)


def test_description_shows_this_runs_params(report):
    desc = html.unescape(re.sub(r"<[^>]+>", "", report["workflow_desc"]))
    assert "Parameters of this run" in desc
    assert "model.backbone_width: 4 (default 16)" in desc  # TINY's value, against the default
    assert "runs.ablation: none" in desc and "main: main_syn17" in desc
    assert "backbone_width: 4\n" in desc  # the full validated params
    assert "warning" not in desc.lower()  # the params are those of the results


# ----------------------------------------------------------------------------------------------------------
# Headless Chromium over the DevTools protocol


class Chromium:
    """A headless Chromium with one page, driven over --remote-debugging-pipe (fd 3: commands in, fd 4: replies
    and events out, NUL-separated JSON). ``problems`` collects console errors, uncaught exceptions and failed
    loads of the page."""

    def __init__(self, exe: str, profile: Path):
        cmd_r, self._cmd_w = os.pipe()
        self._evt_r, evt_w = os.pipe()

        def fds():
            os.dup2(cmd_r, 3)
            os.dup2(evt_w, 4)

        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
             "--no-default-browser-check", f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
             "about:blank"],
            pass_fds=(3, 4), preexec_fn=fds, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(evt_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            self.page(f"{domain}.enable")
        self.page("Emulation.setDeviceMetricsOverride", width=WINDOW[0], height=WINDOW[1], deviceScaleFactor=1,
                  mobile=False)

    def _message(self, timeout: float) -> dict:
        while b"\0" not in self._buf:
            ready, _, _ = select.select([self._evt_r], [], [], max(0.05, timeout))
            if not ready:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._evt_r, 1 << 20)
            if not chunk:
                raise EOFError("chromium exited")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, session: str | None = None, timeout: float = 30, **params) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params, **({"sessionId": session} if session else {})}
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        end = time.monotonic() + timeout
        while True:
            m = self._message(end - time.monotonic())
            if m.get("id") == self._id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def page(self, method: str, **params) -> dict:
        return self.call(method, session=self.session, **params)

    def open(self, url: str) -> None:
        self.events = [m for m in self.events if m.get("method") != "Page.loadEventFired"]
        self.page("Page.navigate", url=url)
        end = time.monotonic() + 30
        while not any(m.get("method") == "Page.loadEventFired" for m in self.events):
            self.events.append(self._message(end - time.monotonic()))

    def js(self, expression: str):
        """The value of ``expression`` (awaited if a promise); a thrown error fails."""
        r = self.page("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in r:
            raise AssertionError(f"{expression[:200]}: {r['exceptionDetails'].get('exception', r)}")
        return r["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 15):
        """Poll ``expression`` until it is truthy (a DOM node comes back as ``{}``: test it with ``!!``)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {expression}")

    def screenshot(self, clip: dict | None = None) -> np.ndarray:
        """An RGB array of the viewport, or of ``clip`` (a DOMRect: x, y, width, height) within it."""
        args = {"format": "png"}
        if clip:
            args["clip"] = {k: clip[k] for k in ("x", "y", "width", "height")} | {"scale": 1}
        png = base64.b64decode(self.page("Page.captureScreenshot", **args)["data"])
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))

    def problems(self, settle: float = 0.5) -> list[str]:
        """Console errors and assertions, uncaught exceptions and error log entries so far (after reading what
        arrives within ``settle`` seconds)."""
        try:
            while True:
                self.events.append(self._message(settle))
        except TimeoutError:
            pass
        out = []
        for m in self.events:
            p = m.get("params", {})
            if m.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif m.get("method") == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                out.append("exception: " + d.get("exception", {}).get("description", d.get("text", "")))
            elif m.get("method") == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(f"log ({p['entry']['source']}): {p['entry']['text']} {p['entry'].get('url', '')}")
        return out

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
            self.proc.wait(10)
        except (OSError, RuntimeError, TimeoutError, EOFError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_w)
        os.close(self._evt_r)


def drawn(pixels: np.ndarray) -> bool:
    """Not blank: at least 2 % of the pixels differ from the most common colour, in at least 8 colours."""
    rgb = pixels.reshape(-1, 3).astype(np.uint32)
    colours, counts = np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2], return_counts=True)
    return len(colours) >= 8 and 1 - counts.max() / len(rgb) >= 0.02


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    exe = shutil.which("chromium")
    if exe is None:
        if os.environ.get("FASRNET_REQUIRE_BROWSER") == "1":
            pytest.fail("FASRNET_REQUIRE_BROWSER=1 but chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed (Debian: apt-get install chromium); FASRNET_REQUIRE_BROWSER=1 "
                    "fails instead")
    browser = Chromium(exe, tmp_path_factory.mktemp("chromium"))
    yield browser
    browser.close()


CLICK = """((text, scope) => {
  const a = [...document.querySelectorAll((scope || '') + ' a')].find(x => x.textContent.trim() === text);
  if (!a) throw new Error('no link ' + JSON.stringify(text));
  a.click();
  return true;
})"""

ROW_BUTTON = """((cell, index) => {
  const row = [...document.querySelectorAll('tr')].find(r => r.cells[0] && r.cells[0].textContent.trim() === cell);
  if (!row) throw new Error('no row ' + cell);
  row.querySelectorAll('a')[index].click();
  return true;
})"""

RECT = "(el => { const r = el.getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width, height: r.height}; })"


def test_browser_checks_can_fail(chromium, tmp_path):
    """The checks below see a console error, an uncaught exception, a failed load and a blank page."""
    page = tmp_path / "broken.html"
    page.write_text("<html><body style='background:#fff'><img src='missing.png'><script>console.error('boom');"
                    "setTimeout(() => { throw new Error('bang'); }, 0);</script></body></html>")
    chromium.events.clear()
    chromium.open(page.as_uri())
    problems = " ".join(chromium.problems())
    assert "boom" in problems and "bang" in problems and "missing.png" in problems, problems
    assert not drawn(chromium.screenshot())
    chromium.events.clear()


def test_report_in_the_browser(project, report, chromium):
    shots = project / "results" / "report-screenshots"
    shots.mkdir()
    chromium.events.clear()
    chromium.open((project / "results" / "report.html").as_uri())

    # The first view: the workflow description with this run's params, beside the rule graph.
    chromium.wait_for("document.body.innerText.includes('Parameters of this run')")
    pixels = chromium.screenshot()
    Image.fromarray(pixels).save(shots / "workflow.png")
    assert drawn(pixels)

    # Every figure: shown as an image, decoded at its own size and not blank; its caption in the side bar.
    chromium.js(f"{CLICK}('Figures')")
    for f in FIGURES:
        path = f"results/figures/{f.name}"
        chromium.wait_for(f"[...document.querySelectorAll('td')].some(td => td.textContent.trim() === '{path}')")
        chromium.js(f"{ROW_BUTTON}('{path}', 0)")  # the eye button: the figure view
        chromium.wait_for(f"(i => i && i.complete && i.naturalWidth > 0 && i.src === results['{path}'].data_uri)"
                          f"(document.querySelector('img[src^=\"data:image/png\"]'))")
        width, height = Image.open(project / path).size
        assert chromium.js("(i => [i.naturalWidth, i.naturalHeight])(document.querySelector('img[src^=\"data:image"
                           "/png\"]'))") == [width, height]
        rect = chromium.js(f"{RECT}(document.querySelector('img[src^=\"data:image/png\"]'))")
        assert rect["width"] >= 200 and rect["height"] >= 100, rect
        rect["width"], rect["height"] = min(rect["width"], WINDOW[0] - rect["x"]), min(rect["height"],
                                                                                       WINDOW[1] - rect["y"])
        pixels = chromium.screenshot(rect)
        Image.fromarray(pixels).save(shots / f.name)
        assert drawn(pixels), f"{f.name} is blank in the report"
        chromium.js(f"{ROW_BUTTON}('{path}', 1)")  # the info button: the caption, in the side bar
        chromium.wait_for("document.body.textContent.includes('Description')")
        chromium.wait_for(f"document.body.textContent.includes({json.dumps(f.title + '. ')})")
        Image.fromarray(chromium.screenshot()).save(shots / f"{f.stem}-view.png")
        chromium.js("app.showCategory('Figures')")  # back to the list

    # The tables: an HTML page in a frame, drawn.
    chromium.js("app.setView({navbarMode: 'menu'})")
    chromium.js(f"{CLICK}('Tables')")
    path = "results/figures/tables.html"
    chromium.wait_for(f"[...document.querySelectorAll('td')].some(td => td.textContent.trim() === '{path}')")
    chromium.js(f"{ROW_BUTTON}('{path}', 0)")
    chromium.wait_for("(f => f && f.src.startsWith('data:text/html'))(document.querySelector('iframe'))")
    time.sleep(1.0)
    rect = chromium.js(f"{RECT}(document.querySelector('iframe'))")
    rect["height"] = min(rect["height"], WINDOW[1] - rect["y"])
    pixels = chromium.screenshot(rect)
    Image.fromarray(pixels).save(shots / "tables.png")
    assert drawn(pixels), "the tables page is blank in the report"

    # Snakemake's runtime statistics: the chart of every job's runtime is drawn.
    chromium.js("app.setView({navbarMode: 'menu'})")
    chromium.js(f"{CLICK}('Statistics')")
    chromium.wait_for("!!document.querySelector('#runtimes canvas, #runtimes svg')")
    time.sleep(0.5)
    rect = chromium.js(f"{RECT}(document.querySelector('#runtimes'))")
    pixels = chromium.screenshot(rect)
    Image.fromarray(pixels).save(shots / "runtimes.png")
    assert drawn(pixels), "the runtime chart is blank"

    assert chromium.problems() == [], chromium.problems()


def test_tables_page_renders_as_tables(project, chromium):
    chromium.events.clear()
    chromium.open((project / "results" / "figures" / "tables.html").as_uri())
    headings = chromium.js("[...document.querySelectorAll('h2')].map(h => h.textContent)")
    for k in range(1, 11):
        assert any(h.startswith(f"Table {k}. ") for h in headings), headings
    assert chromium.js("document.querySelectorAll('table').length") >= 10
    assert chromium.js("document.querySelectorAll('td').length") > 200
    text = chromium.js("document.body.innerText")
    assert "|---" not in text and "**" not in text and "[^" not in text, "markdown left in the page"
    assert drawn(chromium.screenshot())
    assert chromium.problems() == [], chromium.problems()

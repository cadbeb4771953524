"""Shared by the browser tests (tests/e2e) and tools/screenshots.py: start the app, drive Chromium.

- `AppServer`: `streamlit run app.py` headless on a free port, with its own runs folder and a
  log file; `start()` waits on /_stcore/health (and fails with the log when the server dies).
- `launch_browser()`: Debian's Chromium (Playwright's own download does not work offline).
- Waiting like Streamlit's own e2e tests: the `stApp` element carries
  `data-test-connection-state` (CONNECTED once the websocket is up) and
  `data-test-script-state` (initial / running / notRunning / rerunRequested / ...).
- Page helpers: `goto_page`, `metric`, `button`, `set_number`, `set_text`, `select_option`,
  `dataframe_rows` (st.dataframe's cells), `image_with_caption`, `screenshot_full`;
  the canvas: `canvas`, `draw_strokes`, `DIGITS`, `canvas_ink`, `canvas_tool`;
  training: `configure_training`, `progress`, `wait_training_finished`.

Everything waits with deadlines (generous: the CI box has 2 shared cores), never fixed sleeps
for app state.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from playwright.sync_api import Browser, Locator, Page, Playwright, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from processes import die_with_parent  # noqa: E402

from cnn_core.data import NO_DOWNLOAD_ENV  # noqa: E402
from cnn_core.runs import RUNS_DIR_ENV  # noqa: E402

CHROMIUM = os.environ.get("CNN_LAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-quic", "--no-first-run", "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1280, "height": 900}
# Sidebar label -> the page's st.title (how a test knows the page it opened is there).
PAGES = {"Home": "CNN Lab", "Train": "Train a CNN", "Model": "Inside a model", "Draw": "Draw a digit",
         "Runs": "Saved runs"}

# Timeouts in ms (2 shared CPU cores, TensorFlow imports of many seconds).
APP_TIMEOUT = 90_000  # first load of a page (may import TensorFlow, load the model and MNIST)
RUN_TIMEOUT = 60_000  # one script run after an interaction
TRAIN_TIMEOUT = 600_000  # a tiny training, Start to final metrics (minutes when the 2 cores are busy)


# --- the server --------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerError(RuntimeError):
    pass


class AppServer:
    """One `streamlit run app.py` process; stdout and stderr go to `log_path`."""

    def __init__(self, runs_dir: Path, log_path: Path, port: int | None = None, env: dict | None = None,
                 app: str = "app.py"):
        self.runs_dir = Path(runs_dir)
        self.log_path = Path(log_path)
        self.port = port or free_port()
        self.app = app
        self.extra_env = dict(env or {})
        self.proc: subprocess.Popen | None = None
        self._log = None
        self.poll_s = 0.25  # how often start() asks /_stcore/health

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        # app.py starts as `make run` starts it (cnn_lab_ui.serve: streamlit run without internet look-ups).
        start = ["-m", "cnn_lab_ui.serve"] if self.app == "app.py" else ["-m", "streamlit", "run", self.app]
        return [sys.executable, *start,
                "--server.headless", "true", "--server.port", str(self.port), "--server.address", "127.0.0.1",
                "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]

    def start(self, timeout: float = 120.0) -> "AppServer":
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update({RUNS_DIR_ENV: str(self.runs_dir), NO_DOWNLOAD_ENV: "1", "PYTHONUNBUFFERED": "1",
                    "TF_CPP_MIN_LOG_LEVEL": env.get("TF_CPP_MIN_LOG_LEVEL", "2")})
        env.update(self.extra_env)
        self._log = open(self.log_path, "ab")
        self._log.write(f"$ {' '.join(self.command())}\n  (cwd {ROOT}, {RUNS_DIR_ENV}={self.runs_dir})\n".encode())
        self._log.flush()
        # Its own process group, so stop() also ends whatever the server started; and it ends with the
        # test process even when stop() never runs (a killed test run).
        self.proc = subprocess.Popen(self.command(), cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent)
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        health = f"{self.url}/_stcore/health"
        while True:
            code = self.proc.poll()
            if code is not None:
                raise ServerError(f"streamlit exited with status {code} before it was healthy.\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(health, timeout=2) as r:
                    if r.status == 200 and r.read().strip() == b"ok":
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"{health} did not answer 'ok' within {timeout:.0f} s.\n{self.log_tail()}")
            time.sleep(self.poll_s)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError as e:
            return f"(no server log: {e})"

    def log_tail(self, chars: int = 20_000) -> str:
        text = self.log_text()
        return ("…" + text[-chars:]) if len(text) > chars else text

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # the group this Popen created, nothing else
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "AppServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --- the browser -------------------------------------------------------------------------

def launch_browser(pw: Playwright, headless: bool = True) -> Browser:
    if not Path(CHROMIUM).is_file():
        raise FileNotFoundError(f"the browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=headless)


def new_page(browser: Browser, url: str | None = None, timeout: int = APP_TIMEOUT) -> Page:
    """A page in a fresh context (its own cookies: a separate Streamlit session)."""
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    context.set_default_timeout(RUN_TIMEOUT)
    expect.set_options(timeout=RUN_TIMEOUT)
    page = context.new_page()
    if url:
        page.goto(url, wait_until="domcontentloaded", timeout=timeout)
        wait_for_app_loaded(page, timeout)
    return page


# --- waiting -----------------------------------------------------------------------------

APP = '[data-testid="stApp"]'


def app(page: Page) -> Locator:
    return page.locator(APP)


def wait_for_connected(page: Page, timeout: int = APP_TIMEOUT) -> None:
    expect(app(page)).to_have_attribute("data-test-connection-state", "CONNECTED", timeout=timeout)


def wait_for_script_idle(page: Page, timeout: int = RUN_TIMEOUT, settle_ms: int = 300) -> None:
    """Wait until the script run an interaction triggered is over (like Streamlit's wait_for_app_run).

    The rerun starts a moment after the click; wait briefly for it to begin, then for the
    `notRunning` state, and for no status widget saying "Running".
    """
    wait_for_connected(page, timeout)
    try:
        expect(app(page)).not_to_have_attribute("data-test-script-state", "notRunning", timeout=settle_ms)
    except AssertionError:
        pass  # the run was already over (or never started): fine
    expect(app(page)).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout)
    expect(page.get_by_test_id("stStatusWidget").get_by_text("Running", exact=False)).to_have_count(0, timeout=timeout)


def wait_for_app_loaded(page: Page, timeout: int = APP_TIMEOUT) -> None:
    """After page.goto(): the app view is there, connected, and the first script run finished."""
    expect(page.get_by_test_id("stAppViewContainer")).to_be_attached(timeout=timeout)
    wait_for_connected(page, timeout)
    expect(app(page)).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout)
    expect(page.get_by_test_id("stStatusWidget").get_by_text("Running", exact=False)).to_have_count(0, timeout=timeout)
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0, timeout=timeout)


def wait_until(predicate, message, timeout: float = RUN_TIMEOUT / 1000, interval: float = 0.25):
    """Poll a Python predicate (for what expect() cannot see, e.g. canvas pixels).
    `message`: text, or a function giving it (called on failure, to show the last state)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message() if callable(message) else message} (after {timeout:.0f} s)")
        time.sleep(interval)


# --- navigation --------------------------------------------------------------------------

def nav_link(page: Page, name: str) -> Locator:
    return page.get_by_test_id("stSidebarNav").get_by_role("link", name=re.compile(rf"\b{re.escape(name)}$"))


def goto_page(page: Page, name: str, timeout: int = APP_TIMEOUT) -> None:
    """Open a page through the sidebar navigation (same session, like a person would) and
    wait until its title is there and its script run is over."""
    nav_link(page, name).click()
    expect(page).to_have_url(re.compile(rf"/{'' if name == 'Home' else name.lower()}(\?.*)?$"), timeout=timeout)
    expect(title(page, PAGES[name])).to_be_visible(timeout=timeout)
    wait_for_script_idle(page, timeout)


def title(page: Page, text: str) -> Locator:
    return page.get_by_role("heading", name=text, level=1)


# --- widgets -----------------------------------------------------------------------------

def metric(page: Page, label: str) -> Locator:
    """The value element of the st.metric whose label is exactly `label`."""
    box = page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True))
    return box.get_by_test_id("stMetricValue")


def button(page: Page, label: str) -> Locator:
    return page.get_by_role("button", name=label, exact=True)


def _labelled(page: Page, testid: str, label) -> Locator:
    text = page.get_by_text(label) if isinstance(label, re.Pattern) else page.get_by_text(label, exact=True)
    return page.get_by_test_id(testid).filter(has=text)


def set_number(page: Page, label, value) -> None:
    """Type into an st.number_input and commit it (Enter), then wait for the rerun.
    `label`: the exact label, or a compiled regex."""
    box = _labelled(page, "stNumberInput", label).locator("input")
    box.fill(str(value))
    box.press("Enter")
    wait_for_script_idle(page)
    expect(box).to_have_value(str(value))


def set_text(page: Page, label: str, value: str) -> None:
    box = _labelled(page, "stTextInput", label).locator("input")
    box.fill(value)
    box.press("Enter")
    wait_for_script_idle(page)
    expect(box).to_have_value(value)


def set_checkbox(page: Page, label: str, checked: bool) -> None:
    box = _labelled(page, "stCheckbox", label)
    inp = box.locator("input[type=checkbox]")
    if inp.is_checked() != checked:
        box.locator("label").first.click()
        wait_for_script_idle(page)
    expect(inp).to_be_checked(checked=checked)


def dataframe_rows(frame: Locator, max_steps: int = 20) -> list[dict[str, str]]:
    """The rows of an st.dataframe as {column header: cell text}.

    st.dataframe draws on a canvas (glide-data-grid) but keeps an accessible <table role=grid>
    of the cells in view; columns beyond the width are virtualised, so scroll it sideways and
    collect what each position shows (rows are matched by aria-rowindex).
    """
    expect(frame.locator("table[role=grid] td[role=gridcell]").first).to_be_attached()
    collect = """root => {
        const t = root.querySelector('table[role=grid]');
        const heads = {}; const rows = {};
        for (const th of t.querySelectorAll('th[role=columnheader]'))
            heads[th.getAttribute('aria-colindex')] = th.textContent.trim();
        for (const tr of t.querySelectorAll('tbody tr[role=row]')) {
            const r = rows[tr.getAttribute('aria-rowindex')] = {};
            for (const td of tr.querySelectorAll('td[role=gridcell]'))
                r[td.getAttribute('aria-colindex')] = td.textContent.trim();
        }
        const sc = root.querySelector('.dvn-scroller');
        return {heads, rows, left: sc ? sc.scrollLeft : 0, max: sc ? sc.scrollWidth - sc.clientWidth : 0};
    }"""
    heads: dict[str, str] = {}
    rows: dict[str, dict[str, str]] = {}
    frame.evaluate("root => { const sc = root.querySelector('.dvn-scroller'); if (sc) sc.scrollLeft = 0; }")
    for _ in range(max_steps):
        frame.page.wait_for_timeout(250)  # the grid redraws its cells on the next animation frames
        got = frame.evaluate(collect)
        heads.update(got["heads"])
        for idx, cells in got["rows"].items():
            rows.setdefault(idx, {}).update(cells)
        if got["left"] >= got["max"]:
            break
        frame.evaluate("root => { const sc = root.querySelector('.dvn-scroller'); "
                       "sc.scrollLeft += sc.clientWidth * 0.8; }")
    return [{heads.get(c, c): v for c, v in sorted(cells.items(), key=lambda kv: int(kv[0]))}
            for _, cells in sorted(rows.items(), key=lambda kv: int(kv[0]))]


def select_option(page: Page, label, option: str) -> None:
    """Pick `option` (its visible text, or part of it) in the st.selectbox labelled `label`."""
    box = _labelled(page, "stSelectbox", label)
    combo = box.get_by_role("combobox")
    if option in (combo.input_value() or ""):
        return  # already chosen (typing the same text would not open the list)
    # A react-aria combobox: emptying the text opens the list of all options (filling in the
    # whole text at once does not), then pick the option. On a busy machine a heavy page may still
    # be redrawing and close the list again (seen once on the Runs page): open it again, twice at most.
    wanted = page.get_by_role("option").filter(has_text=option).first
    for attempt in range(3):
        combo.fill("")
        if combo.get_attribute("aria-expanded") != "true":
            combo.press("ArrowDown")
        try:
            wanted.click(timeout=20_000)
            break
        except PlaywrightTimeoutError:
            if attempt == 2:
                raise
            wait_for_script_idle(page)
    wait_for_script_idle(page)
    expect(combo).to_have_value(re.compile(re.escape(option)))


def wait_for_pictures(page: Page, timeout: int = RUN_TIMEOUT) -> None:
    """Every <img> loaded and every Vega chart drawn (before a screenshot)."""
    page.wait_for_function(
        """() => [...document.images].every(i => i.complete)
                && [...document.querySelectorAll('[data-testid=stVegaLiteChart]')]
                   .every(c => c.querySelector('svg, canvas'))""",
        timeout=timeout)


def screenshot_full(page: Page, path, max_height: int = 8000, timeout: int = 30_000) -> None:
    """A screenshot of the whole app. Streamlit scrolls inside its main section, not the
    document, so Playwright's full_page sees one viewport: grow the viewport to the content's
    height for the picture, then put it back."""
    size = page.viewport_size or VIEWPORT
    height = page.evaluate("""() => {
        const main = document.querySelector('[data-testid=stMain]');
        return Math.ceil(Math.max(main ? main.scrollHeight : 0, document.documentElement.scrollHeight));
    }""")
    tall = min(max(size["height"], height), max_height)
    try:
        if tall > size["height"]:
            page.set_viewport_size({"width": size["width"], "height": tall})
            page.wait_for_timeout(300)  # re-layout; charts redraw at the new size
            try:
                wait_for_pictures(page, timeout)
            except Exception:
                pass  # still take the picture
        page.screenshot(path=str(path), full_page=True, animations="disabled", timeout=timeout)
    finally:
        if tall > size["height"]:
            page.set_viewport_size(size)


# --- training (the Train page) -----------------------------------------------------------

PERCENT = re.compile(r"^\d{1,3}\.\d\d%$")
SAVED = re.compile(r"Saved as run (\S+?)\.?$")


def configure_training(page: Page, filters: str, limit: int, epochs: int, batch_size: int) -> None:
    """Open the Train page and set a configuration through its form."""
    goto_page(page, "Train")
    set_text(page, "Filters per conv block (comma-separated)", filters)
    set_number(page, "Training digits (0 = all)", limit)
    set_number(page, "Epochs", epochs)
    set_number(page, "Batch size", batch_size)
    expect(button(page, "Start training")).to_be_enabled()


def progress(page: Page) -> Locator:
    """The job's progress bar (not the cost panel's memory bar, which says "MB a job may use")."""
    return page.get_by_test_id("stProgress").filter(has_not_text="a job may use")


def training_result(page: Page) -> Locator:
    """The success message of a finished (or stopped) job: "... Saved as run **name**."."""
    return page.get_by_test_id("stAlertContentSuccess").filter(has_text="Saved as run")


def run_name(page: Page) -> str:
    text = training_result(page).inner_text().strip()
    match = SAVED.search(text)
    assert match, f"no run name in {text!r}"
    return match.group(1)


def wait_training_finished(page: Page, timeout: int = TRAIN_TIMEOUT) -> tuple[str, str]:
    """Wait for the job's final state; the run name and the "Test accuracy" metric's text."""
    expect(training_result(page)).to_be_visible(timeout=timeout)
    expect(metric(page, "Test accuracy")).to_have_text(PERCENT)
    expect(progress(page)).to_have_count(0)
    expect(button(page, "Stop")).to_have_count(0)
    expect_no_errors(page)
    return run_name(page), metric(page, "Test accuracy").inner_text().strip()


# --- the drawing canvas ------------------------------------------------------------------

def canvas(page: Page) -> Locator:
    """The drawable canvas' Fabric.js upper canvas (the one that receives the mouse).

    streamlit-drawable-canvas 0.13 is a components-v2 component: no iframe, its DOM sits in
    the element container (in a shadow root when styles are isolated; Playwright's CSS
    selectors pierce open shadow roots). Fabric wraps the two canvases in div.canvas-container.
    """
    return page.locator("canvas.upper-canvas").first


def draw_strokes(page: Page, strokes, steps: int = 6) -> None:
    """Draw with the mouse. `strokes`: a list of strokes, each a list of (x, y) points in
    canvas pixels (0..width). Each stroke is one mouse-down, moves, mouse-up."""
    target = canvas(page)
    expect(target).to_be_visible(timeout=APP_TIMEOUT)
    target.scroll_into_view_if_needed()
    box = target.bounding_box()
    assert box, "the canvas has no bounding box"
    width = int(target.get_attribute("width") or box["width"])
    sx, sy = box["width"] / width, box["height"] / width
    for stroke in strokes:
        points = [(box["x"] + x * sx, box["y"] + y * sy) for x, y in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for p in points[1:]:
            page.mouse.move(*p, steps=steps)
        page.mouse.up()


def canvas_ink(page: Page) -> int:
    """How many pixels of the drawing layer are bright (0: an empty canvas)."""
    return page.locator("canvas.lower-canvas.dc-canvas").first.evaluate(
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 128 && d[i + 3] > 128) n++;
                  return n; }""")


def settled_ink(page: Page, timeout: float = 30.0) -> int:
    """The canvas' ink (not 0) once the page is idle and two reads half a second apart agree."""
    wait_for_script_idle(page)
    reads = [canvas_ink(page)]

    def settled() -> int | None:
        time.sleep(0.5)
        reads.append(canvas_ink(page))
        return reads[-1] if reads[-1] == reads[-2] else None

    return wait_until(settled, lambda: f"the canvas' ink did not settle: {reads[-5:]}", timeout=timeout)


def canvas_tool(page: Page, name: str) -> Locator:
    """A button of the canvas toolbar by its aria-label: "Undo", "Redo", "Reset canvas & history"..."""
    return page.locator(f'button.dc-icon-button[aria-label="{name}"]').first


def expect_no_exception(page: Page) -> None:
    """No exception box (an uncaught error in a page script)."""
    expect(page.get_by_test_id("stException")).to_have_count(0)


def expect_no_errors(page: Page) -> None:
    """No exception box and no st.error on the page."""
    expect_no_exception(page)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)


def image_with_caption(page: Page, caption: str) -> Locator:
    """The <img> of the st.image whose caption contains `caption`."""
    return page.get_by_test_id("stImage").filter(has_text=caption).locator("img")


def circle(cx: float, cy: float, rx: float, ry: float, n: int = 24) -> list[tuple[float, float]]:
    import math

    return [(cx + rx * math.sin(2 * math.pi * i / n), cy - ry * math.cos(2 * math.pi * i / n)) for i in range(n + 1)]


# Digits in canvas pixels (280 x 280), drawn like a person would.
DIGITS = {
    1: [[(140, 45), (140, 240)]],
    0: [circle(140, 140, 65, 95, 28)],
    7: [[(75, 55), (205, 55)], [(205, 55), (120, 240)]],
}


# --- what the browser asks the server to run ---------------------------------------------

def record_reruns(page: Page) -> list[str]:
    """Record every script run the page asks for, as it asks: the fragment's id for a run of one
    fragment, "" for a run of the whole page. Call before the page opens its websocket (goto)."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    requests: list[str] = []

    def on_frame(payload) -> None:
        if isinstance(payload, (bytes, bytearray)):
            msg = BackMsg.FromString(bytes(payload))
            if msg.WhichOneof("type") == "rerun_script":
                requests.append(msg.rerun_script.fragment_id)

    page.on("websocket", lambda ws: ws.on("framesent", on_frame))
    return requests


def box(locator: Locator) -> dict:
    """The element's bounding box on the page (it must be visible)."""
    expect(locator).to_be_visible()
    found = locator.bounding_box()
    assert found, f"{locator} has no bounding box"
    return found


def number_box(page: Page, label) -> Locator:
    """The <input> of the st.number_input labelled `label` (exact text, or a compiled regex)."""
    return _labelled(page, "stNumberInput", label).locator("input")

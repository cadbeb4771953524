"""Browser tests: one `streamlit run app.py` for the whole session, Debian's Chromium, and on
failure the server log (as a report section) plus a screenshot of every open page
(test-results/<test-name>.png).

Fixtures:
  app_server  session: the running app (harness.AppServer), its own temporary runs folder
  browser     session: headless Chromium
  open_page   function: factory; open_page() -> a Page in a fresh context (a new Streamlit
              session, "another person") with the Home page loaded
  page        function: open_page() once
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

RESULTS = harness.ROOT / "test-results"
SERVER_LOG = RESULTS / "streamlit-server.log"
LOG_CHARS = 30_000  # attached to a failing test's report: the server log since the test began
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # Streamlit's tracebacks are coloured


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("cnn-lab-e2e")
    RESULTS.mkdir(exist_ok=True)
    SERVER_LOG.write_text("")  # this session's log only
    server = harness.AppServer(runs_dir=base / "runs", log_path=SERVER_LOG)
    try:
        server.start(timeout=120)
    except harness.ServerError as e:
        pytest.fail(str(e), pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright_instance):
    try:
        b = harness.launch_browser(playwright_instance)
    except FileNotFoundError as e:
        pytest.fail(str(e), pytrace=False)
    yield b
    b.close()


@pytest.fixture
def open_page(request, app_server, browser):
    pages = []
    request.node._e2e_pages = pages  # for the failure screenshot

    def _open(path: str = "/"):
        page = harness.new_page(browser)
        pages.append(page)
        page.goto(app_server.url + path, wait_until="domcontentloaded", timeout=harness.APP_TIMEOUT)
        harness.wait_for_app_loaded(page)
        harness.expect_no_exception(page)
        return page

    yield _open
    for page in pages:
        try:
            page.context.close()
        except Exception:  # the browser may already be gone
            pass


@pytest.fixture
def page(open_page):
    return open_page()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item._e2e_log_offset = SERVER_LOG.stat().st_size if SERVER_LOG.is_file() else 0


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed or "app_server" not in getattr(item, "fixturenames", ()):
        return
    extras = []
    # The server log since this test began (or all of it when the server failed to start).
    if SERVER_LOG.is_file():
        with SERVER_LOG.open("rb") as f:
            f.seek(getattr(item, "_e2e_log_offset", 0) if report.when != "setup" else 0)
            text = f.read().decode(errors="replace")
        text = ANSI.sub("", text)
        if len(text) > LOG_CHARS:
            text = "…" + text[-LOG_CHARS:]
        report.sections.append(("streamlit server log", text or "(nothing logged during this test)"))
        report.user_properties.append(("server_log", str(SERVER_LOG)))
    # A screenshot of each page the test had open, taken before the fixtures close them.
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid.split("::", 1)[-1])
    for i, page in enumerate(getattr(item, "_e2e_pages", [])):
        path = RESULTS / (f"{name}.png" if i == 0 else f"{name}-{i + 1}.png")
        try:
            harness.screenshot_full(page, path, timeout=15_000)
        except Exception as e:  # a closed page, a crashed browser: the report says so
            report.sections.append((f"screenshot {i + 1}", f"no screenshot: {e}"))
            continue
        report.sections.append((f"screenshot {i + 1}", str(path)))
        report.user_properties.append(("screenshot", str(path)))
        extras.append(str(path))
    html = item.config.pluginmanager.getplugin("html")
    if html is not None and extras:  # pytest-html, when installed: the pictures in its report
        report.extras = getattr(report, "extras", []) + [html.extras.image(p) for p in extras]

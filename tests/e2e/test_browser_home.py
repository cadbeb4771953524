"""Home: the app starts, the navigation lists the five pages, the four pictures load."""

import pytest
from playwright.sync_api import expect

import harness as h


@pytest.mark.browser
def test_home_page_loads(page):
    expect(h.title(page, "CNN Lab")).to_be_visible()
    nav = page.get_by_test_id("stSidebarNav")
    for name in h.PAGES:
        expect(h.nav_link(page, name)).to_be_visible()
    expect(nav.get_by_role("link")).to_have_count(len(h.PAGES))
    # The dataset in use is named (full MNIST in CI, the offline sample elsewhere).
    expect(page.get_by_text("Dataset", exact=False).first).to_be_visible()
    # The four core ideas, each a picture made with the real default model.
    for section in ("Convolution", "Activation", "Pooling", "Fully connected"):
        expect(page.get_by_role("heading", name=section)).to_be_visible()
    expect(page.get_by_test_id("stImage").locator("img")).to_have_count(4, timeout=h.APP_TIMEOUT)
    h.expect_no_errors(page)


@pytest.mark.browser
def test_page_links_open_pages(page):
    page.get_by_test_id("stPageLink").filter(has_text="Draw a digit").click()
    expect(h.title(page, h.PAGES["Draw"])).to_be_visible()
    h.wait_for_script_idle(page)
    expect(h.canvas(page)).to_be_visible()


@pytest.mark.browser
@pytest.mark.parametrize("path,name", [("/draw", "Draw"), ("/runs", "Runs")])
def test_deep_link_keeps_the_navigation(open_page, path, name):
    """A bookmarked page, or a browser refresh on it, shows that page and the same sidebar."""
    page = open_page(path)
    expect(h.title(page, h.PAGES[name])).to_be_visible()
    links = page.get_by_test_id("stSidebarNav").get_by_role("link")
    expect(links).to_have_count(len(h.PAGES))
    for title in h.PAGES:
        expect(h.nav_link(page, title)).to_be_visible()

"""Browser fixtures: the real ComfyUI frontend in Debian's Chromium, on the session's real server (`comfy_server` from
tests/conftest.py, the host's pinned frontend 1.27.10) and, for the canvas tests, also on `newest_comfy_server` (the
newest frontend) in its classic and its Vue node rendering ("Nodes 2.0"). Frontend 1.27.10's Vue node mode is a
hidden experiment that draws no DOM widgets, so no canvas can appear there; users do not get that combination."""
import pytest

from tools import browser as browser_tools

# name -> (newest frontend?, Vue node rendering?)
FRONTENDS = {"fe1.27.10-classic": (False, False), f"fe{browser_tools.NEWEST_FRONTEND}-classic": (True, False),
             f"fe{browser_tools.NEWEST_FRONTEND}-vue": (True, True)}


@pytest.fixture(scope="package")
def chromium_browser():
    """Closed when the browser tests end: Playwright's sync API keeps an event loop marked running in this thread."""
    if browser_tools.chromium_path() is None:
        pytest.skip("no chromium: apt-get install -y chromium (tools/setup_env.sh does it when run as root)")
    with browser_tools.browser_session() as browser:
        yield browser


def new_page(browser, server, vue: bool = False):
    page, errors = browser_tools.open_frontend(browser, server.url, vue=vue)
    page.semanticdraw_errors = errors
    return page


def checked_page(browser, server, vue: bool = False):
    """Yields a fresh page (its `page.server` is `server`), then closes it and fails the test if the page raised an
    uncaught error."""
    page = new_page(browser, server, vue)
    page.server = server
    yield page
    page.close()
    assert not page.semanticdraw_errors, f"uncaught errors in the frontend: {page.semanticdraw_errors}"


@pytest.fixture
def comfy_page(chromium_browser, comfy_server):
    """A fresh page on the pinned frontend, app ready."""
    yield from checked_page(chromium_browser, comfy_server)


@pytest.fixture
def newest_page(chromium_browser, newest_comfy_server):
    """A fresh page on the newest frontend (classic rendering, what users run), app ready."""
    yield from checked_page(chromium_browser, newest_comfy_server)


@pytest.fixture(params=list(FRONTENDS))
def frontend(request):
    """(server, vue) of one frontend + rendering combination."""
    newest, vue = FRONTENDS[request.param]
    return request.getfixturevalue("newest_comfy_server" if newest else "comfy_server"), vue


@pytest.fixture
def canvas_page(chromium_browser, frontend):
    """A fresh page on each frontend + rendering combination (the test's `page.server` is its server); fails the test
    if the page raised an uncaught error."""
    server, vue = frontend
    yield from checked_page(chromium_browser, server, vue)

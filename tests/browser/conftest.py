"""Browser fixtures: the real ComfyUI frontend (comfyui-frontend-package) in Debian's Chromium, on the session's
real server (`comfy_server` from tests/conftest.py)."""
import pytest

from tools import browser as browser_tools


@pytest.fixture(scope="package")
def chromium_browser():
    """Closed when the browser tests end: Playwright's sync API keeps an event loop marked running in this thread."""
    if browser_tools.chromium_path() is None:
        pytest.skip("no chromium: apt-get install -y chromium (tools/setup_env.sh does it when run as root)")
    with browser_tools.browser_session() as browser:
        yield browser


@pytest.fixture
def comfy_page(chromium_browser, comfy_server):
    """A fresh page on the frontend, app ready; fails the test if the page raised an uncaught error."""
    page, errors = browser_tools.open_frontend(chromium_browser, comfy_server.url)
    page.semanticdraw_errors = errors
    yield page
    page.close()
    assert not errors, f"uncaught errors in the frontend: {errors}"


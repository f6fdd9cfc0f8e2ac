"""Headless Chromium (Debian's, driven by Playwright) for the browser tests (marker ``browser``).

``chromium`` is one browser per session; ``offline_context(browser, allow)`` gives a context whose every request
is recorded and any request to a host outside ``allow`` is aborted (the page must work with the network
unplugged). Screenshots go to ``test-artifacts/``.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium not installed (/usr/bin/chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class RequestLog:
    """Every URL the page asked for; requests leaving the allowed hosts are aborted and listed in ``blocked``."""

    def __init__(self, allow_hosts: set[str], allow_file: bool):
        self.allow_hosts = allow_hosts
        self.allow_file = allow_file
        self.urls: list[str] = []
        self.blocked: list[str] = []

    def handle(self, route):
        url = route.request.url
        self.urls.append(url)
        parts = urlsplit(url)
        ok = (parts.scheme in ("data", "blob") or (parts.scheme == "file" and self.allow_file)
              or (parts.scheme in ("http", "https", "ws") and parts.hostname in self.allow_hosts))
        if ok:
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()


def offline_context(browser, *, allow_hosts=("127.0.0.1",), allow_file=False, **kwargs):
    # bypass_csp by default: Playwright's wait_for_function evaluates its predicate with eval, which the viewer's
    # CSP forbids; the CSP itself is tested without the bypass (test_viewer_runs_under_its_content_security_policy)
    kwargs.setdefault("bypass_csp", True)
    context = browser.new_context(accept_downloads=True, locale="zh-CN", **kwargs)
    log = RequestLog(set(allow_hosts), allow_file)
    context.route("**/*", log.handle)
    return context, log


@pytest.fixture(scope="session")
def make_offline_context():
    """``make_offline_context(browser, allow_hosts=..., allow_file=..., **context_kwargs) -> (context, log)``."""
    return offline_context


@pytest.fixture
def console_errors():
    """Collects console errors and uncaught page errors of pages passed to ``watch(page)``."""
    errors: list[str] = []

    def watch(page):
        page.on("console", lambda msg: errors.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        return page

    watch.errors = errors
    return watch


def which_gdal() -> bool:
    return shutil.which("ogrinfo") is not None

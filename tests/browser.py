"""Driving Debian's Chromium with Playwright for the console tests (no browser download).

``browser`` is one Chromium per test session; each test gets its own context (cookies) from
``new_page``. Screenshots of the main pages go to build/screenshots/ (ignored by git); with
``FACEGATE_SCREENSHOTS=docs/screenshots`` (``make screenshots``) they refresh the README's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.server import Server

CHROMIUM = os.environ.get("FACEGATE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / os.environ.get("FACEGATE_SCREENSHOTS", "build/screenshots")
VIEWPORT = {"width": 1366, "height": 900}  # a laptop screen


_SHARED: dict[str, object] = {}


@pytest.fixture(scope="session")
def browser():
    """Every test module imports this fixture, so pytest sets it up once per module; they all
    get the one Chromium (a second Playwright cannot start while one runs), which the first
    set-up closes at the end of the session."""
    if "chromium" in _SHARED:
        yield _SHARED["chromium"]
        return
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        _SHARED["chromium"] = chromium
        try:
            yield chromium
        finally:
            del _SHARED["chromium"]
            chromium.close()


def new_page(browser):
    context = browser.new_context(viewport=VIEWPORT, base_url=None)
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def operator_password(server: Server) -> str:
    """The first operator's console password, printed once by the first start."""
    found = re.search(r"^  password = (\S+)$", server.log.read_text(), re.M)
    assert found, "the first start printed no console password"
    return found.group(1)


def console_user(server: Server, org: str, member: str, username: str, *roles: str) -> str:
    """A member with ``roles`` and a console sign-in; its password."""
    if roles:
        server.member(org, member, *roles)
    done = server.cli("user", "create", username, "--org", org, "--member", member, "--json")
    return json.loads(done.stdout)["password"]


def sign_in(page, server: Server, username: str, password: str) -> None:
    page.goto(f"{server.url}/console/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/console(/.*)?$"))
    assert "Signed in as" in page.locator("[data-testid=who]").inner_text()


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

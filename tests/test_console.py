"""The console's sign-in, sessions and CSRF, in Debian's Chromium and over plain HTTP."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.browser import (
    browser,  # noqa: F401  (fixture)
    console_user,
    new_page,
    operator_password,
    screenshot,
    sign_in,
)
from tests.server import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("console"), FACEGATE_WORKERS="1")
    yield srv
    srv.stop()


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_operator_signs_in_sees_who_and_signs_out(server, browser):  # noqa: F811
    page = new_page(browser)
    page.goto(f"{server.url}/console")
    assert "/console/sign-in" in page.url  # signed out: sent to the sign-in page
    screenshot(page, "sign-in")
    sign_in(page, server, "operator", operator_password(server))
    who = page.locator("[data-testid=who]").inner_text()
    assert "operator" in who and "roles: operator" in who
    cookie = next(c for c in page.context.cookies() if c["name"] == "facegate_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/console/sign-in$"))
    page.goto(f"{server.url}/console")
    assert "/console/sign-in" in page.url
    page.context.close()


def test_wrong_passwords_lock_the_account(server, browser):  # noqa: F811
    server.organization("lockers")
    password = console_user(server, "lockers", "lee", "lee", "analyst")
    page = new_page(browser)
    for _ in range(5):
        page.goto(f"{server.url}/console/sign-in")
        page.get_by_label("Username").fill("lee")
        page.get_by_label("Password").fill("not the password at all")
        page.get_by_role("button", name="Sign in").click()
        assert "Wrong username or password" in page.get_by_role("alert").inner_text()
    page.get_by_label("Username").fill("lee")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    assert "locked" in page.get_by_role("alert").inner_text()  # even the right password
    # An operator sets a new password: the lock is lifted.
    fresh = json.loads(server.cli("user", "set-password", "lee", "--json").stdout)["password"]
    sign_in(page, server, "lee", fresh)
    page.context.close()
    # every attempt is on the record with the account it named, never a password; a name
    # that is no account (it could be a password typed in the wrong box) is not written
    page = new_page(browser)
    page.goto(f"{server.url}/console/sign-in")
    page.get_by_label("Username").fill("Secret-Typed-As-A-Name-71")
    page.get_by_label("Password").fill("whatever it is")
    page.get_by_role("button", name="Sign in").click()
    assert "Wrong username or password" in page.get_by_role("alert").inner_text()
    page.context.close()
    attempts = server.query(
        "SELECT organization, member, resource, decision, reasons FROM audit_records "
        "WHERE operation = 'Console.SignIn' AND (member = 'lee' OR resource = 'console-user') "
        "ORDER BY seq"
    )
    assert [(r.decision, r.member) for r in attempts] == [("deny", "lee")] * 6 + [
        ("allow", "lee"),
        ("deny", ""),
    ]
    assert "locked" in attempts[5].reasons and attempts[0].organization == "lockers"
    assert attempts[-1].resource == "console-user"
    logged = " ".join(str(v) for r in server.query("SELECT * FROM audit_records") for v in r)
    for secret in ("not the password at all", password, fresh, "Secret-Typed-As-A-Name-71"):
        assert secret not in logged


def test_forms_without_the_csrf_token_are_refused(server):
    with httpx.Client(base_url=server.url) as client:
        page = client.get("/console/sign-in")
        # the sign-in form: its token is tied to a cookie of the same browser
        refused = client.post(
            "/console/sign-in",
            data={"csrf": "forged", "username": "operator", "password": "x" * 12},
        )
        assert refused.status_code == 403
        signed = client.post(
            "/console/sign-in",
            data={
                "csrf": _csrf(page.text),
                "username": "operator",
                "password": operator_password(server),
            },
        )
        assert signed.status_code == 303
        assert client.post("/console/sign-out", data={}).status_code == 403
        assert client.post("/console/sign-out", data={"csrf": "forged"}).status_code == 403
        still = client.get("/console")
        assert still.status_code == 200 and "Signed in as" in still.text
        assert "frame-ancestors 'none'" in still.headers["content-security-policy"]
        assert client.post("/console/sign-out", data={"csrf": _csrf(still.text)}).status_code == 303
        assert client.get("/console").status_code == 303  # the session is gone


def test_a_signed_out_session_cannot_load_pages(server):
    with httpx.Client(base_url=server.url) as client:
        client.cookies.set("facegate_console", "made-up-session-token", path="/console")
        answer = client.get("/console")
        assert answer.status_code == 303 and "/console/sign-in" in answer.headers["location"]
        posted = client.post("/console/sign-out", data={"csrf": "x"})
        assert posted.status_code == 401

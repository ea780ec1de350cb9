"""The camera owner's console pages, in Debian's Chromium: my cameras, registering one, the
footage requests for them, approve / decline / revoke.

Maple Street is a community organization with an approved footage-sharing use case: Alice is
a camera owner who signs in to the console, Bob another owner (with a key). Harbor Police
(Ines, an analyst's key) asks for an hour of footage from both owners' cameras. Alice sees
only her own camera in it and declines; the agency's REST view counts one decline and never
names her. Every step is decided by FOOTAGE-CONSENT and recorded in Maple Street's log.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.browser import (
    browser,  # noqa: F401  (fixture)
    console_user,
    new_page,
    screenshot,
    sign_in,
)
from tests.server import Server

NOW = datetime.now(UTC)
WINDOW = (NOW - timedelta(hours=3), NOW - timedelta(hours=2))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("console-owners"), FACEGATE_WORKERS="1")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def street(server):
    """The organizations, the owners' sign-ins and keys, the agency's key."""
    server.organization("maple-street", "community")
    footage = server.use_case("maple-street", "footage_sharing", ("detect",))
    server.organization("harbor-police", "law_enforcement")
    agency = server.use_case("harbor-police", "criminal_investigation", ("detect", "manage"))
    server.member("harbor-police", "ines", "analyst")
    passwords = {
        "alice": console_user(server, "maple-street", "alice", "alice", "owner"),
        "bob": console_user(server, "maple-street", "bob", "bob", "owner"),
        "ines": console_user(server, "harbor-police", "ines", "ines"),
    }
    keys = {
        "bob": server.key("maple-street", footage, "bob"),
        "ines": server.key("harbor-police", agency, "ines"),
    }
    return passwords, keys, footage


def api(server: Server, key, method: str, path: str, status: int = 200, **kw) -> dict:
    answer = httpx.request(
        method,
        f"{server.url}/v1{path}",
        headers={"X-Api-Key": ":".join(key)},
        timeout=60,
        **kw,
    )
    assert answer.status_code == status, answer.text
    return answer.json()


def ask(server: Server, keys, cameras: list[int], incident: str) -> int:
    """The agency's request for the window from ``cameras``: its id."""
    made = api(
        server,
        keys["ines"],
        "POST",
        "/footage-requests",
        201,
        json={
            "IncidentReference": incident,
            "Reason": "Break-in at 14 Maple St; looking for a white van",
            "WindowStart": WINDOW[0].isoformat(),
            "WindowEnd": WINDOW[1].isoformat(),
            "CameraIds": cameras,
        },
    )
    return made["FootageRequestId"]


def register(page, name: str, latitude: str, longitude: str, address: str = "") -> None:
    page.get_by_label("Name").fill(name)
    page.get_by_label("Latitude").fill(latitude)
    page.get_by_label("Longitude").fill(longitude)
    page.get_by_label("Address (optional)").fill(address)
    with page.expect_navigation():
        page.get_by_role("button", name="Register the camera").click()


def camera_ids(page) -> list[int]:
    rows = page.locator("[data-testid=cameras] tbody tr")
    return [int(rows.nth(i).get_attribute("data-camera-id")) for i in range(rows.count())]


def audit(server: Server, organization: str, operation: str) -> list[dict]:
    with httpx.Client(headers={"X-Api-Key": ":".join(server.operator_keys())}) as client:
        answer = client.get(
            f"{server.url}/v1/audit/records",
            params={"operation": operation, "organization": organization},
            timeout=60,
        )
    assert answer.status_code == 200, answer.text
    return answer.json()["Records"]


def test_an_owner_registers_a_camera_and_declines_a_request(
    server,
    street,
    browser,  # noqa: F811
):
    passwords, keys, footage = street
    page = new_page(browser)
    sign_in(page, server, "alice", passwords["alice"])
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Cameras").click()
    page.wait_for_url(re.compile(r".*/console/cameras$"))
    assert "no registered camera" in page.locator("main").inner_text()

    # Registering: a bad position and a taken name are refused with the reason.
    register(page, "porch", "north", "-122.34")
    assert "Latitude must be a number" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Name").input_value() == "porch"  # what was entered is kept
    register(page, "porch", "47.6100", "-122.3400", "12 Maple St")
    assert "is registered" in page.get_by_role("status").inner_text()
    [porch] = camera_ids(page)
    register(page, "porch", "47.6101", "-122.3401")
    assert "already has a camera named 'porch'" in page.get_by_role("alert").inner_text()
    assert camera_ids(page) == [porch]

    # Bob's camera, registered with his key, is not Alice's to see.
    door = api(
        server,
        keys["bob"],
        "POST",
        "/cameras",
        201,
        json={"Name": "door", "Latitude": 47.6104, "Longitude": -122.3398},
    )["CameraId"]
    page.reload()
    assert camera_ids(page) == [porch] and "door" not in page.locator("main").inner_text()

    request_id = ask(server, keys, [porch, door], "HPD-2026-0412")
    page.reload()
    assert page.get_by_test_id("waiting").inner_text() == "1"
    page.get_by_role("link", name="Footage requests for my cameras").click()
    page.wait_for_url(re.compile(r".*/console/cameras/requests$"))
    rows = page.locator(f"tr[data-request-id='{request_id}']")
    assert rows.count() == 1 and rows.first.get_attribute("data-camera-id") == str(porch)
    listed = page.locator("main").inner_text()
    assert "HPD-2026-0412" in listed and "harbor-police" in listed and "white van" in listed
    assert "door" not in listed and "bob" not in listed  # another owner's camera and name
    screenshot(page, "owner-requests")

    page.get_by_role("button", name="Decline: request HPD-2026-0412 for camera porch").click()
    page.wait_for_url(re.compile(rf".*/console/cameras/requests/{request_id}\?decided=decline$"))
    row = page.locator(f"[data-testid=my-cameras] tr[data-camera-id='{porch}']")
    assert row.get_by_test_id("decision").inner_text() == "declined"
    assert row.get_by_role("button", name=re.compile("^Approve")).count() == 1  # may reconsider
    assert row.get_by_role("button", name=re.compile("^Decline")).count() == 0
    page.context.close()

    # The agency sees one decline among two cameras, and not whose.
    seen = httpx.get(
        f"{server.url}/v1/footage-requests/{request_id}",
        headers={"X-Api-Key": ":".join(keys["ines"])},
        timeout=60,
    )
    assert seen.status_code == 200
    counts = seen.json()["Cameras"]
    assert counts["Asked"] == 2 and counts["Declined"] == 1 and counts["Pending"] == 1
    assert "alice" not in seen.text.lower() and "porch" not in seen.text
    assert "Owner" not in seen.text and "maple-street" not in seen.text

    # Recorded in Maple Street's log: Alice, through the console, under the use case.
    [decided] = [
        r for r in audit(server, "maple-street", "DecideFootageRequest") if r["Member"] == "alice"
    ]
    assert decided["Decision"] == "allow" and decided["AccessKeyId"] == "console"
    assert decided["UseCaseId"] == footage
    detail = json.loads(decided["Detail"])
    assert detail["decision"] == "decline" and detail["cameras"] == [porch]
    assert audit(server, "harbor-police", "DecideFootageRequest") == []


def test_an_owner_approves_then_revokes_until_the_agency_closes(
    server,
    street,
    browser,  # noqa: F811
):
    passwords, keys, _footage = street
    page = new_page(browser)
    sign_in(page, server, "alice", passwords["alice"])
    page.goto(f"{server.url}/console/cameras")
    porch = camera_ids(page)[0]
    request_id = ask(server, keys, [porch], "HPD-2026-0413")
    page.goto(f"{server.url}/console/cameras/requests/{request_id}")
    row = page.locator(f"[data-testid=my-cameras] tr[data-camera-id='{porch}']")
    assert row.get_by_test_id("decision").inner_text() == "pending"
    for button, state in (("Approve", "approved"), ("Revoke approval", "revoked")):
        row.get_by_role("button", name=re.compile(f"^{button}")).click()
        page.wait_for_url(re.compile(r".*\?decided=\w+$"))
        row = page.locator(f"[data-testid=my-cameras] tr[data-camera-id='{porch}']")
        assert row.get_by_test_id("decision").inner_text() == state
    # A form posted without the session's CSRF token is refused, and changes nothing.
    forged = page.request.post(
        f"{server.url}/console/cameras/requests/{request_id}/decision",
        form={"decision": "approve", "camera": str(porch)},
    )
    assert forged.status == 403
    assert (
        api(server, keys["ines"], "GET", f"/footage-requests/{request_id}")["Cameras"]["Revoked"]
        == 1
    )
    # Once the agency closes the request, nothing more is decided.
    api(server, keys["ines"], "POST", f"/footage-requests/{request_id}/close")
    page.reload()
    assert "closed by the agency" in page.locator("main").inner_text()
    assert page.locator("[data-testid=my-cameras] button").count() == 0
    # Another owner cannot open it: not found.
    other = new_page(browser)
    sign_in(other, server, "bob", passwords["bob"])
    assert other.goto(f"{server.url}/console/cameras/requests/{request_id}").status == 404
    other.context.close()
    page.context.close()


def test_the_owner_pages_need_the_organizations_footage_use_case(
    server,
    browser,  # noqa: F811
):
    server.organization("oak-street", "community")  # no approved use case
    password = console_user(server, "oak-street", "olga", "olga", "owner")
    page = new_page(browser)
    sign_in(page, server, "olga", password)
    answer = page.goto(f"{server.url}/console/cameras")
    assert answer.status == 403
    assert "FOOTAGE-CONSENT" in page.locator("main").inner_text()
    page.context.close()


def test_the_owner_pages_are_the_owners_only(
    server,
    street,
    browser,  # noqa: F811
):
    passwords, _keys, _footage = street
    owner = new_page(browser)
    sign_in(owner, server, "alice", passwords["alice"])
    for path in ("/console/reviews", "/console/reviews/any-review"):
        answer = owner.goto(f"{server.url}{path}")
        assert answer.status == 403, path
        assert "Not your page" in owner.locator("h1").inner_text()
        assert "reviewer" in owner.get_by_role("alert").inner_text()
    owner.context.close()
    agency = new_page(browser)  # an agency's analyst: no owner pages either
    sign_in(agency, server, "ines", passwords["ines"])
    assert agency.goto(f"{server.url}/console/cameras").status == 403
    agency.context.close()

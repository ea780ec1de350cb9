"""The operator's console pages, in Debian's Chromium against a real server, with boto3.

An operator approves a use case and the organization's key for it starts working; a new
key's secret is shown once and the key works until it is revoked; an exemption granted in
the console lifts the moratorium for the same key; a decision needs a reason; the explain
form names the policies; other roles get 403 and forms without their CSRF token are refused.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.browser import (
    browser,  # noqa: F401  (fixture)
    console_user,
    new_page,
    operator_password,
    screenshot,
    sign_in,
)
from tests.conftest import read
from tests.server import Server

pytestmark = pytest.mark.models

OPERATOR = "/console/operator"
FACE = "face_recognition/obama_small.jpg"
CASE = {"X-Facegate-Case": "CASE-2026-0117"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("console-operator"), FACEGATE_WORKERS="1")
    yield srv
    srv.stop()


@pytest.fixture
def operator(server, browser):  # noqa: F811
    page = new_page(browser)
    sign_in(page, server, "operator", operator_password(server))
    yield page
    page.context.close()


def compare(server: Server, keys: tuple[str, str], headers: dict[str, str] | None = None):
    client = server.client(keys, headers=headers)
    return client.compare_faces(
        SourceImage={"Bytes": read(FACE)},
        TargetImage={"Bytes": read(FACE)},
        SimilarityThreshold=80,
    )


def denied_by(server: Server, keys, headers=None) -> str:
    with pytest.raises(ClientError) as refused:
        compare(server, keys, headers)
    error = refused.value.response
    assert error["Error"]["Code"] == "AccessDeniedException"
    return error["ResponseMetadata"]["HTTPHeaders"]["x-facegate-denied-by"]


def issued_on_page(page) -> tuple[str, str]:
    """The key pair the result page shows once."""
    assert "it will not be shown again" in page.get_by_role("alert").inner_text()
    key_id = page.get_by_test_id("access-key-id").inner_text().strip()
    secret = page.get_by_test_id("secret").inner_text().strip()
    assert key_id.startswith("FG") and len(secret) >= 30
    return key_id, secret


def audit(server: Server, operation: str) -> list[dict]:
    key_id, secret = server.operator_keys()
    answer = httpx.get(
        f"{server.url}/v1/audit/records",
        params={"operation": operation},
        headers={"X-Api-Key": f"{key_id}:{secret}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    records = answer.json()["Records"]
    for record in records:
        record["Detail"] = json.loads(record["Detail"] or "{}")
    return records


def test_an_operator_approves_a_use_case_and_the_key_starts_working(server, operator):
    page = operator
    # harbor has a detect-and-manage use case, and its admin ada a key for it
    server.organization("harbor", "nonprofit")
    first = server.use_case("harbor", "photo_organization", ("detect", "manage"))
    server.member("harbor", "ada", "admin")
    server.member("harbor", "dana", "analyst")
    ada = server.key("harbor", first, "ada")
    # ada registers the use case harbor needs to compare faces: pending
    registered = httpx.post(
        f"{server.url}/v1/use-cases",
        json={
            "purpose": "photo_organization",
            "description": "Match volunteers' photos to the intake desk's",
            "legal_basis": "Volunteers' consent forms, 2026",
            "operations": ["verify", "identify", "enroll", "detect", "manage"],
            "expires": "2099-01-01",
            "searches_per_day": 500,
        },
        headers={"X-Api-Key": f"{ada[0]}:{ada[1]}"},
        timeout=60,
    )
    assert registered.status_code == 201, registered.text
    pending = registered.json()["id"]
    assert denied_by(server, ada) == "LIMITED-ACCESS"

    page.goto(f"{server.url}{OPERATOR}")
    page.get_by_role("link", name=f"#{pending}", exact=True).click()
    assert page.get_by_test_id("status").inner_text() == "pending"
    page.goto(f"{server.url}{OPERATOR}/use-cases")
    rows = page.get_by_test_id("use-cases").locator("tbody tr")
    assert "pending" in rows.first.inner_text() and f"#{pending}" in rows.first.inner_text()
    assert "500 searches/day" in rows.first.inner_text()
    screenshot(page, "operator-use-cases")
    # no key can be issued for it yet: it is not offered
    page.goto(f"{server.url}{OPERATOR}/keys?organization=harbor")
    offered = page.locator("#key-use-case option").evaluate_all("os => os.map(o => o.value)")
    assert str(pending) not in offered and str(first) in offered

    page.goto(f"{server.url}{OPERATOR}/use-cases/{pending}")
    page.get_by_label("Reason").fill("Consent forms checked; DPIA 2026-07 reviewed")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(re.compile(r".*done=approve$"))
    assert page.get_by_test_id("status").inner_text() == "approved"
    assert "console:operator" in page.locator("dl.facts").inner_text()
    # the key for it: issued from the use case's page, shown once
    page.get_by_role("link", name="Issue a key for this use case").click()
    assert page.get_by_label("Use case").input_value() == str(pending)
    page.get_by_label("Member").fill("dana")
    page.get_by_label("Description").fill("intake desk")
    page.get_by_role("button", name="Issue the key").click()
    dana = issued_on_page(page)
    matched = compare(server, dana)
    assert matched["FaceMatches"] and matched["FaceMatches"][0]["Similarity"] > 99
    # the decision is on the record, made by the signed-in operator
    approvals = [
        (r["Member"], r["AccessKeyId"], r["Decision"])
        for r in audit(server, "Admin.ApproveUseCase")
        if r["Detail"]["use_case"] == pending
    ]
    assert approvals == [("console:operator", "console", "allow")]


def test_a_new_key_is_shown_once_and_works_until_revoked(server, operator):
    page = operator
    server.organization("lab", "research")
    use_case = server.use_case("lab", "research_evaluation", ("verify", "manage"))
    server.member("lab", "lee", "analyst")
    page.goto(f"{server.url}{OPERATOR}/keys?organization=lab")
    assert page.get_by_label("Use case").input_value() == str(use_case)
    page.get_by_label("Member").fill("lee")
    page.get_by_label("Description").fill("evaluation runs")
    page.get_by_role("button", name="Issue the key").click()
    key_id, secret = issued_on_page(page)
    shown_at = page.url
    client = server.client((key_id, secret))
    client.create_collection(CollectionId="evaluation")
    assert client.list_collections()["CollectionIds"] == ["evaluation"]

    answer = page.reload()
    assert answer.status == 410 and "Already shown" in page.content()
    assert secret not in page.content()
    page.goto(shown_at)
    assert secret not in page.content()
    page.goto(f"{server.url}{OPERATOR}/keys?organization=lab")
    listing = page.get_by_test_id("keys")
    assert key_id in listing.inner_text() and secret not in page.content()
    assert "lee" in listing.inner_text() and "active" in listing.inner_text()
    screenshot(page, "operator-keys")

    revoke = page.get_by_role("button", name=f"Revoke key {key_id}")
    page.once("dialog", lambda dialog: dialog.dismiss())  # changed their mind: nothing sent
    revoke.click()
    assert client.list_collections()["CollectionIds"] == ["evaluation"]
    page.once("dialog", lambda dialog: dialog.accept())
    revoke.click()
    page.wait_for_url(re.compile(r".*done=revoked$"))
    assert "revoked" in page.get_by_test_id("keys").inner_text()
    with pytest.raises(ClientError) as refused:
        client.list_collections()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)


def test_an_exemption_lifts_the_moratorium_for_the_same_key(server, operator):
    page = operator
    server.organization("state-police", "law_enforcement")
    use_case = server.use_case("state-police", "missing_persons", ("verify",))
    keys = server.key("state-police", use_case)
    assert denied_by(server, keys, CASE) == "MORATORIUM"

    page.goto(f"{server.url}{OPERATOR}/exemptions")
    page.get_by_label("Organization").select_option("state-police")
    page.get_by_label("Purpose").select_option("missing_persons")
    page.get_by_label("Reason (the vetting done)").fill("Missing-children unit vetted; MoU 2026-14")
    page.get_by_label("Expires (UTC)").fill("2099-01-01")
    page.get_by_role("button", name="Grant the exemption").click()
    page.wait_for_url(re.compile(r".*done=granted$"))
    assert "active" in page.locator("table").inner_text()
    matched = compare(server, keys, CASE)  # the same key, from the next request on
    assert matched["FaceMatches"]
    assert float(matched["ResponseMetadata"]["HTTPHeaders"]["x-facegate-effective-threshold"]) == 99

    exemption = page.locator("table tbody tr").first
    exemption.get_by_label("Reason").fill("MoU ended")
    page.once("dialog", lambda dialog: dialog.accept())
    exemption.get_by_role("button", name="Revoke").click()
    page.wait_for_url(re.compile(r".*done=revoked$"))
    assert "MoU ended" in page.locator("table").inner_text()
    assert denied_by(server, keys, CASE) == "MORATORIUM"


def test_a_decision_needs_a_reason(server, operator):
    page = operator
    server.organization("quiet")
    pending = server.use_case("quiet", approve=False)
    page.goto(f"{server.url}{OPERATOR}/use-cases/{pending}")
    reason = page.get_by_label("Reason")
    assert reason.evaluate("e => e.validity.valueMissing")  # the browser asks first
    reason.fill("   ")  # what the browser lets through, the server refuses
    page.get_by_role("button", name="Approve").click()
    alert = page.get_by_role("alert").inner_text()
    assert "reason is required" in alert.lower()
    (use_case,) = server.ok("GET", "/use-cases?organization=quiet")["use_cases"]
    assert use_case["status"] == "pending" and use_case["decided_by"] is None
    refused = audit(server, "Admin.ApproveUseCase")[-1]
    assert refused["Decision"] == "error" and refused["Detail"]["use_case"] == pending


def test_the_policy_set_and_the_explain_form(server, operator):
    page = operator
    page.goto(f"{server.url}{OPERATOR}/policies")
    version = page.get_by_test_id("policy-version").inner_text()
    assert version == server.ok("GET", "/policies")["version"]
    policies = page.get_by_test_id("policies")
    assert "MORATORIUM" in policies.inner_text() and "OPERATOR-ONLY" in policies.inner_text()
    row = page.locator("#policy-MORATORIUM")
    row.get_by_text("Cedar text of MORATORIUM").click()
    assert "forbid" in row.locator("pre").inner_text()
    screenshot(page, "operator-policies")

    page.get_by_label("Operation", exact=True).select_option("SearchFacesByImage")
    page.get_by_label("Sector").select_option("law_enforcement")
    page.get_by_label("Use case purpose").select_option("criminal_investigation")
    page.get_by_label("identify", exact=True).check()
    page.get_by_label("Case reference").fill("CASE-7")
    page.get_by_label("Threshold (0-100)").fill("80")
    page.get_by_role("button", name="Explain").click()
    explained = page.get_by_test_id("explained")
    assert "deny" in explained.get_by_role("heading").inner_text()
    assert "Denied by MORATORIUM" in explained.inner_text()
    deciding = explained.locator("tbody th").all_inner_texts()
    assert deciding[0] == "MORATORIUM"
    # the form keeps what was asked; a real key is explained with its own use case
    assert page.get_by_label("Case reference").input_value() == "CASE-7"
    page.get_by_label("Access key id").fill("FGNOSUCHKEY")
    page.get_by_role("button", name="Explain").click()
    assert "No active access key FGNOSUCHKEY" in page.get_by_role("alert").inner_text()


def test_organizations_members_and_console_sign_ins(server, operator, browser):  # noqa: F811
    page = operator
    page.goto(f"{server.url}{OPERATOR}/organizations")
    page.get_by_label("Name").fill("riverside")
    page.get_by_label("Sector", exact=True).select_option("community")
    page.get_by_role("button", name="Create the organization").click()
    page.wait_for_url(re.compile(r".*/organization\?name=riverside&done=created$"))
    page.get_by_label("Name").fill("olu")
    page.get_by_label("owner", exact=True).check()
    page.get_by_label("admin", exact=True).check()
    page.get_by_role("button", name="Add the member").click()
    assert "admin, owner" in page.get_by_role("table").first.inner_text()
    page.get_by_label("Username").fill("olu")
    page.get_by_role("button", name="Create the sign-in").click()
    assert "it will not be shown again" in page.get_by_role("alert").inner_text()
    password = page.get_by_test_id("secret").inner_text().strip()
    assert page.reload().status == 410 and password not in page.content()
    olu = new_page(browser)
    sign_in(olu, server, "olu", password)
    assert "roles: admin, owner" in olu.get_by_test_id("who").inner_text()
    olu.context.close()
    # the sector is changed on the organizations page, after a confirmation
    page.goto(f"{server.url}{OPERATOR}/organizations")
    row = page.get_by_role("row", name=re.compile("^riverside"))
    row.get_by_label("New sector of riverside").select_option("nonprofit")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Change").click()
    page.wait_for_url(re.compile(r".*done=sector$"))
    sectors = {o["name"]: o["sector"] for o in server.ok("GET", "/organizations")["organizations"]}
    assert sectors["riverside"] == "nonprofit"


def test_system_health(server, operator):
    page = operator
    answer = page.goto(f"{server.url}{OPERATOR}/health")
    assert answer.status == 200
    served = httpx.get(f"{server.url}/health").json()
    service = page.get_by_test_id("health-service").inner_text()
    assert (
        f"facegate {served['version']}" in service and served["model"]["version"] in page.content()
    )
    work = page.get_by_test_id("health-work").inner_text()
    assert re.search(r"Video jobs queued\s+0\s+Video jobs running\s+0", work)
    head = page.get_by_test_id("health-audit").inner_text()
    assert re.search(r"record \d+", head)
    screenshot(page, "operator-health")
    health = audit(server, "Administer")
    assert health[-1]["Resource"] == "health" and health[-1]["Decision"] == "allow"


def test_other_roles_cannot_open_the_operator_pages(server, browser):  # noqa: F811
    server.organization("acme")
    password = console_user(server, "acme", "ada", "acme-ada", "admin")
    page = new_page(browser)
    sign_in(page, server, "acme-ada", password)
    assert "Operator" not in page.get_by_role("navigation", name="Sections").inner_text()
    for path in ("", "/use-cases", "/keys", "/policies", "/health"):
        answer = page.goto(f"{server.url}{OPERATOR}{path}")
        assert answer.status == 403 and "Not your page" in page.content()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.content()).group(1)
    posted = page.request.post(
        f"{server.url}{OPERATOR}/organizations",
        form={"csrf": csrf, "name": "taken-over", "sector": "commercial"},
    )
    assert posted.status == 403
    page.context.close()
    names = [o["name"] for o in server.ok("GET", "/organizations")["organizations"]]
    assert "taken-over" not in names


def test_forms_without_the_csrf_token_are_refused(server):
    with httpx.Client(base_url=server.url) as client:
        form = client.get("/console/sign-in").text
        signed = client.post(
            "/console/sign-in",
            data={
                "csrf": re.search(r'name="csrf" value="([^"]+)"', form).group(1),
                "username": "operator",
                "password": operator_password(server),
            },
        )
        assert signed.status_code == 303
        wanted = {"name": "forged-org", "sector": "commercial"}
        assert client.post(f"{OPERATOR}/organizations", data=wanted).status_code == 403
        forged = client.post(f"{OPERATOR}/organizations", data={**wanted, "csrf": "forged"})
        assert forged.status_code == 403 and "CSRF" in forged.text
        names = [o["name"] for o in server.ok("GET", "/organizations")["organizations"]]
        assert "forged-org" not in names
        page = client.get(f"{OPERATOR}/organizations").text
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        made = client.post(f"{OPERATOR}/organizations", data={**wanted, "csrf": token})
        assert made.status_code == 303
        names = [o["name"] for o in server.ok("GET", "/organizations")["organizations"]]
        assert "forged-org" in names

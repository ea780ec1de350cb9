"""The auditor's console pages in Debian's Chromium: the log and its filters, one
organization's records only, the export, reports, the demographic audit, and a tampered
record found by verifying from the page."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta

import botocore.exceptions
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

pytestmark = pytest.mark.slow

# A recorded demographic audit with its curves (the shape `facegate fairness evaluate` writes).
EDGES = [float(x) for x in range(0, 102, 2)]


def _group(subjects: int, fmr: float, fnmr: float, shift: int) -> dict:
    genuine = [0] * 50
    impostor = [0] * 50
    for i in range(10):
        impostor[5 + i + shift] = 40 - 3 * i
        genuine[35 + i - shift] = 5 + 2 * i
    return {
        "subjects": subjects,
        "fmr": {"errors": 3, "trials": 420, "value": fmr, "reason": None},
        "fnmr": {"errors": 1, "trials": 80, "value": fnmr, "reason": None},
        "det": {
            "threshold": [50.0, 60.0, 70.0, 80.0, 90.0],
            "fmr": [0.3, 0.05, 0.01, fmr, 1e-5],
            "fnmr": [0.0, 0.001, 0.004, fnmr, 0.2],
        },
        "genuine_scores": {"edges": EDGES, "counts": genuine},
        "impostor_scores": {"edges": EDGES, "counts": impostor},
    }


AUDIT = {
    "format": "facegate-fairness-report/1",
    "model_version": "dlib-resnet-v1",
    "dataset": "holdout-portraits",
    "target_fmr": 0.001,
    "summary": {
        "fmr_max_geomean": {"name": "fmr_max_geomean", "value": 4.25, "reason": None},
        "garbe": {"name": "garbe", "value": 0.31, "reason": None},
        "fdr": {"name": "fdr", "value": None, "reason": "a group has no impostor pairs"},
    },
    "groups": {
        "female x black": _group(6, 3 / 420, 1 / 80, 4),
        "male x white": _group(30, 1 / 17000, 9 / 400, 0),
    },
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("console-audit"), FACEGATE_WORKERS="1")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def orgs(server):
    """Two organizations with traffic (a collection made, a comparison denied by
    LIMITED-ACCESS before any image is read), an auditor and an admin each."""
    passwords, use_cases = {}, {}
    for org in ("alpha", "beta"):
        server.organization(org)
        server.member(org, f"{org}-analyst", "analyst")
        use_cases[org] = server.use_case(org, operations=("detect", "manage"))  # no "verify"
        client = server.client(server.key(org, use_cases[org], f"{org}-analyst"))
        client.create_collection(CollectionId=f"{org}-photos")
        with pytest.raises(botocore.exceptions.ClientError):
            client.compare_faces(SourceImage={"Bytes": b"x"}, TargetImage={"Bytes": b"x"})
        passwords[org] = console_user(server, org, f"{org}-auditor", f"aud-{org}", "auditor")
        server.member(org, f"{org}-admin", "admin")
        passwords[f"{org}-admin"] = console_user(server, org, f"{org}-admin", f"adm-{org}")
    return {"passwords": passwords, "use_cases": use_cases}


def _signed_in(browser, server, username, password):  # noqa: F811
    page = new_page(browser)
    sign_in(page, server, username, password)
    return page


def _column(page, index: int) -> list[str]:
    return page.locator(f"table.audit-log tbody tr td:nth-child({index})").all_inner_texts()


def test_auditor_reads_their_organizations_log_with_filters(server, orgs, browser):  # noqa: F811
    page = _signed_in(browser, server, "aud-alpha", orgs["passwords"]["alpha"])
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Audit").click()
    page.wait_for_url(f"{server.url}/console/audit")
    organizations = _column(page, 3)
    assert organizations and set(organizations) == {"alpha"}  # never beta's records
    assert "beta" not in page.locator("table.audit-log").inner_text()
    operations = _column(page, 5)
    assert "CreateCollection" in operations and "CompareFaces" in operations
    seqs = [int(s) for s in page.locator("table.audit-log tbody th").all_inner_texts()]
    assert seqs == sorted(seqs, reverse=True)  # newest first

    # decision = deny: only denials
    page.get_by_label("Decision").select_option("deny")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r".*decision=deny.*"))
    assert set(_column(page, 7)) == {"deny"}
    assert "CompareFaces" in _column(page, 5)
    assert "LIMITED-ACCESS" in " ".join(_column(page, 8))
    # a rule id and an operation filter
    page.get_by_label("Rule or policy id").fill("LIMITED-ACCESS")
    page.get_by_label("Operation").fill("CompareFaces")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r".*rule=LIMITED-ACCESS.*"))
    assert set(_column(page, 5)) == {"CompareFaces"}
    # a time window in the future holds nothing
    later = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S")
    page.goto(f"{server.url}/console/audit?since={later}")
    assert "No record matches" in page.inner_text("main")

    # an auditor cannot choose another organization: the filter is ignored for them
    page.goto(f"{server.url}/console/audit?organization=beta")
    assert set(_column(page, 3)) == {"alpha"}

    # one record's detail
    page.goto(f"{server.url}/console/audit?operation=CompareFaces")
    seq = page.locator("table.audit-log tbody th").first.inner_text()
    page.get_by_role("link", name=f"Record {seq}", exact=True).click()
    page.wait_for_url(f"{server.url}/console/audit/records/{seq}")
    detail = page.inner_text("main")
    assert f"Audit record {seq}" in detail and "LIMITED-ACCESS" in detail
    assert re.search(r"\b[0-9a-f]{64}\b", detail)  # its hash and prev_hash
    page.goto(f"{server.url}/console/audit")  # with the reads just made (they are recorded)
    assert "ReadAudit" in _column(page, 5)
    screenshot(page, "audit-log")
    page.context.close()


def test_an_auditor_never_reads_another_organizations_record(server, orgs, browser):  # noqa: F811
    with sqlite3.connect(server.data_dir / "facegate.db") as db:
        beta_seq = db.execute(
            "SELECT max(seq) FROM audit_records WHERE organization = 'beta'"
        ).fetchone()[0]
    page = _signed_in(browser, server, "aud-alpha", orgs["passwords"]["alpha"])
    answer = page.goto(f"{server.url}/console/audit/records/{beta_seq}")
    assert answer.status == 404
    page.context.close()
    page = _signed_in(browser, server, "aud-beta", orgs["passwords"]["beta"])
    page.goto(f"{server.url}/console/audit")
    assert set(_column(page, 3)) == {"beta"}
    assert page.goto(f"{server.url}/console/audit/records/{beta_seq}").status == 200
    page.context.close()


def test_export_downloads_jsonl_of_their_records(server, orgs, browser, tmp_path):  # noqa: F811
    page = _signed_in(browser, server, "aud-alpha", orgs["passwords"]["alpha"])
    page.goto(f"{server.url}/console/audit")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the export").click()
    assert download.value.suggested_filename == "facegate-audit.jsonl"
    path = tmp_path / "export.jsonl"
    download.value.save_as(path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    header, records = lines[0], [x for x in lines if x["type"] == "record"]
    assert header["type"] == "header" and header["partial"] is True
    assert records and {r["organization"] for r in records} == {"alpha"}
    done = server.cli("audit", "verify", "--export", str(path), "--json", check=False)
    assert done.returncode == 0 and json.loads(done.stdout)["partial"] is True
    page.context.close()


def test_a_malformed_address_is_refused_and_on_the_record(server, orgs, browser):  # noqa: F811
    """A signed-in person's request refused before any action ran (a date that is not one, a
    page number that is not a number) still leaves its record, naming who asked."""
    page = _signed_in(browser, server, "aud-beta", orgs["passwords"]["beta"])
    for query in ("since=last-tuesday", "before=minus-one"):
        answer = page.goto(f"{server.url}/console/audit?{query}")
        assert answer.status == 400 and "Not done" in page.inner_text("main")
    page.context.close()
    refused = server.query(
        "SELECT operation, decision, error_type, reasons FROM audit_records "
        "WHERE organization = 'beta' AND member = 'beta-auditor' AND decision = 'deny' "
        "AND error_type = 'InvalidParameterException' ORDER BY seq"
    )
    assert [r.operation for r in refused] == ["/console/audit", "/console/audit"]
    assert "last-tuesday" in refused[0].reasons


def test_role_separation(server, orgs, browser):  # noqa: F811
    # an organization admin (no auditor role) cannot open the audit pages
    page = _signed_in(browser, server, "adm-alpha", orgs["passwords"]["alpha-admin"])
    for path in ("/console/audit", "/console/audit/verify", "/console/audit/reports"):
        answer = page.goto(f"{server.url}{path}")
        assert answer.status == 403 and "Not your page" in page.inner_text("main")
    assert "Audit" not in page.get_by_role("navigation", name="Sections").inner_text()
    page.context.close()
    # and a form posted by hand is refused for the role before anything runs
    with httpx.Client(base_url=server.url) as client:
        form = client.get("/console/sign-in").text
        token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
        client.post(
            "/console/sign-in",
            data={
                "csrf": token,
                "username": "adm-alpha",
                "password": orgs["passwords"]["alpha-admin"],
            },
        )
        home = client.get("/console").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', home).group(1)
        refused = client.post("/console/audit/verify", data={"csrf": csrf})
        assert refused.status_code == 403
        assert client.get("/console/audit/export").status_code == 403


def test_reports_are_made_viewed_and_downloaded(server, orgs, browser, tmp_path):  # noqa: F811
    page = _signed_in(browser, server, "aud-alpha", orgs["passwords"]["alpha"])
    page.goto(f"{server.url}/console/audit/reports")
    today = datetime.now(UTC).date()
    page.get_by_label("From (inclusive)").fill((today - timedelta(days=1)).isoformat())
    page.get_by_label("To (exclusive)").fill((today + timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Make the transparency report").click()
    page.wait_for_url(re.compile(r".*/console/audit/reports/transparency-[^/]+$"))
    assert "Transparency report" in page.get_by_role("heading", level=1).inner_text()
    frame = page.frame_locator("iframe.report-frame")
    frame.get_by_role("heading", name="facegate transparency report").wait_for()
    charts = frame.locator("img[src^='data:image/png']")
    assert charts.count() >= 4
    for i in range(charts.count()):  # every chart decoded and drawn
        assert charts.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
        assert charts.nth(i).get_attribute("alt").startswith("Bar chart")
    charts.first.scroll_into_view_if_needed()
    screenshot(page, "audit-reports")
    # the files: the CSV tables and the JSON download
    with page.expect_download() as download:
        page.get_by_role("link", name="Download requests_by_sector.csv").click()
    assert download.value.suggested_filename.endswith("requests_by_sector.csv")
    download.value.save_as(tmp_path / "sectors.csv")
    assert (tmp_path / "sectors.csv").read_text().startswith("sector,")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download transparency.json").click()
    download.value.save_as(tmp_path / "t.json")
    assert json.loads((tmp_path / "t.json").read_text())["format"] == "facegate-transparency/1"
    transparency_url = page.url

    # an accountability report of alpha's use case
    page.goto(f"{server.url}/console/audit/reports")
    page.get_by_label("Use case").select_option(str(orgs["use_cases"]["alpha"]))
    page.get_by_role("button", name="Make the accountability report").click()
    page.wait_for_url(re.compile(r".*/console/audit/reports/accountability-[^/]+$"))
    accountability_url = page.url
    page.frame_locator("iframe.report-frame").locator("h1").first.wait_for()
    page.goto(f"{server.url}/console/audit/reports")
    listed = page.locator("main table").inner_text()
    assert "Transparency report" in listed and "Accountability report" in listed
    page.context.close()

    # beta's auditor sees the transparency report (aggregates), not alpha's accountability
    page = _signed_in(browser, server, "aud-beta", orgs["passwords"]["beta"])
    page.goto(f"{server.url}/console/audit/reports")
    assert "Accountability report" not in page.inner_text("main")
    options = page.locator("#use_case option").all_inner_texts()
    assert options and all("(beta," in o for o in options)  # only beta's own use cases
    assert page.goto(transparency_url).status == 200
    assert page.goto(accountability_url).status == 404
    assert page.goto(accountability_url + "/accountability.html").status == 404
    page.context.close()


def test_the_latest_demographic_audit_with_its_charts(server, orgs, browser, tmp_path):  # noqa: F811
    page = _signed_in(browser, server, "aud-alpha", orgs["passwords"]["alpha"])
    page.goto(f"{server.url}/console/audit/fairness")
    assert "none on record" in page.inner_text("main")
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(AUDIT))
    recorded = json.loads(server.cli("fairness", "record", str(path), "--json").stdout)
    page.reload()
    main = page.inner_text("main")
    assert f"Audit {recorded['audit_id']}" in main and "holdout-portraits" in main
    assert "female x black" in main and "outside" in main  # GARBE 0.31 is above the limit
    charts = page.locator("figure.chart img")
    assert charts.count() == 2
    for i in range(2):
        assert charts.nth(i).evaluate("img => img.complete && img.naturalWidth > 100")
    assert "DET curves" in charts.nth(0).get_attribute("alt")
    screenshot(page, "fairness")
    page.context.close()


def test_operator_sees_every_organization(server, orgs, browser):  # noqa: F811
    page = _signed_in(browser, server, "operator", operator_password(server))
    page.goto(f"{server.url}/console/audit?operation=CompareFaces")
    assert {"alpha", "beta"} <= set(_column(page, 3))
    page.get_by_label("Organization").fill("beta")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r".*organization=beta.*"))
    assert set(_column(page, 3)) == {"beta"}
    page.context.close()


def test_an_auditor_detects_a_tampered_record(server, orgs, browser):  # noqa: F811
    """Last in this module: it breaks the chain for good."""
    page = _signed_in(browser, server, "aud-alpha", orgs["passwords"]["alpha"])
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Audit").click()
    page.get_by_role("link", name="Verify", exact=True).click()
    page.get_by_role("button", name="Verify the chain now").click()
    result = page.get_by_test_id("verify-result")
    assert "The chain verifies" in result.inner_text()

    with sqlite3.connect(server.data_dir / "facegate.db") as db:
        seq = db.execute(
            "SELECT seq FROM audit_records WHERE organization = 'alpha' "
            "AND operation = 'CompareFaces' AND decision = 'deny' ORDER BY seq LIMIT 1"
        ).fetchone()[0]
        db.execute("UPDATE audit_records SET decision = 'allow' WHERE seq = ?", (seq,))

    page.get_by_role("button", name="Verify the chain now").click()
    result = page.get_by_test_id("verify-result")
    assert "does not verify" in result.inner_text()
    assert f"Record {seq} was altered" in result.inner_text()
    assert page.get_by_test_id("first-problem-seq").inner_text() == str(seq)
    screenshot(page, "audit-verify")
    # the page links to the altered record, which now says "allow"
    page.get_by_test_id("first-problem-seq").click()
    page.wait_for_url(f"{server.url}/console/audit/records/{seq}")
    assert "allow" in page.locator("main p").first.inner_text()
    page.context.close()

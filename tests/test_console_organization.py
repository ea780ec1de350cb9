"""The organization's console pages in Debian's Chromium: collections with their counts, a
face's basis, provenance and deadline, an admin's erasure with its receipt, a video job's live
progress, and who may open what."""

from __future__ import annotations

import re
import sqlite3

import httpx
import pytest

from tests.browser import (
    browser,  # noqa: F401  (fixture)
    console_user,
    new_page,
    screenshot,
    sign_in,
)
from tests.conftest import DATA
from tests.server import BASIS, Server

pytestmark = [pytest.mark.models, pytest.mark.slow]

CLIP = DATA / "face_recognition" / "short_hamilton_clip.mp4"
PEOPLE = ("lin-manuel-miranda", "alex-lacamoire")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("console-org"), FACEGATE_WORKERS="1")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def studio(server):
    """An organization with a collection of two people (one of them a user), its admin,
    analyst and auditor, and another organization's admin."""
    keys = server.governed_keys("studio", purpose="media_archive")
    client = server.client(keys, headers=BASIS)
    client.create_collection(CollectionId="cast")
    faces = {}
    for name in PEOPLE:
        records = client.index_faces(
            CollectionId="cast",
            Image={"Bytes": (DATA / "face_recognition" / f"{name}.png").read_bytes()},
            ExternalImageId=name,
        )["FaceRecords"]
        faces[name] = records[0]["Face"]["FaceId"]
    client.create_user(CollectionId="cast", UserId="alex")
    client.associate_faces(CollectionId="cast", UserId="alex", FaceIds=[faces["alex-lacamoire"]])
    passwords = {
        role: console_user(server, "studio", f"studio-{role}", f"{role}-s", role)
        for role in ("admin", "analyst", "auditor")
    }
    server.organization("other")
    passwords["other"] = console_user(server, "other", "other-admin", "admin-o", "admin")
    return {"keys": keys, "client": client, "faces": faces, "passwords": passwords}


def _signed_in(browser, server, username, password):  # noqa: F811
    page = new_page(browser)
    sign_in(page, server, username, password)
    return page


def test_collections_faces_and_their_metadata(server, studio, browser):  # noqa: F811
    page = _signed_in(browser, server, "analyst-s", studio["passwords"]["analyst"])
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Collections").click()
    page.wait_for_url(f"{server.url}/console/collections")
    row = page.locator("tr[data-collection=cast]")
    assert row.get_by_test_id("face-count").inner_text() == "2"
    assert row.get_by_test_id("user-count").inner_text() == "1"
    screenshot(page, "collections")
    row.get_by_role("link", name="cast").click()
    page.wait_for_url(f"{server.url}/console/collections/c/cast")
    listed = page.locator("main table").nth(1).inner_text()
    assert "lin-manuel-miranda" in listed and "alex" in listed
    face_id = studio["faces"]["lin-manuel-miranda"]
    page.get_by_role("link", name=face_id).click()
    page.wait_for_url(f"{server.url}/console/collections/c/cast/faces/{face_id}")
    assert page.get_by_test_id("basis").inner_text() == BASIS["X-Facegate-Basis"]
    assert page.get_by_test_id("provenance").inner_text() == BASIS["X-Facegate-Provenance"]
    # the deadline: the use case's end (2099-01-01) or three years after enrollment
    deadline = page.get_by_test_id("deadline").inner_text()
    assert re.fullmatch(r"20\d\d-\d\d-\d\d \d\d:\d\d:\d\d UTC", deadline)
    with sqlite3.connect(server.data_dir / "facegate.db") as db:
        query = "SELECT delete_by FROM faces WHERE face_id = ?"
        stored = db.execute(query, (face_id,)).fetchone()[0]
    assert deadline.startswith(stored[:16].replace("T", " "))
    screenshot(page, "face-detail")
    # the analyst sees the receipts but has no erasure form
    page.goto(f"{server.url}/console/collections/erasures")
    assert page.get_by_label("Subject (ExternalImageId or UserId)").count() == 0
    assert "Only your organization's admins erase subjects" in page.inner_text("main")
    page.context.close()


def test_other_organizations_do_not_see_the_collection(server, studio, browser):  # noqa: F811
    page = _signed_in(browser, server, "admin-o", studio["passwords"]["other"])
    page.goto(f"{server.url}/console/collections")
    assert "has no collection" in page.inner_text("main")
    answer = page.goto(f"{server.url}/console/collections/c/cast")
    assert answer.status == 404
    face_id = studio["faces"]["lin-manuel-miranda"]
    assert page.goto(f"{server.url}/console/collections/c/cast/faces/{face_id}").status == 404
    page.context.close()


def test_an_admin_erases_a_subject_with_a_receipt(server, studio, browser):  # noqa: F811
    page = _signed_in(browser, server, "admin-s", studio["passwords"]["admin"])
    page.goto(f"{server.url}/console/collections/erasures")
    assert "No receipt" in page.inner_text("main")
    page.get_by_label("Subject (ExternalImageId or UserId)").fill("alex")  # the UserId
    page.once("dialog", lambda dialog: dialog.accept())  # data-confirm asks first
    page.get_by_role("button", name="Erase the subject").click()
    page.wait_for_url(re.compile(r".*/console/collections/erasures\?receipt=.*"))
    receipt = page.locator("section.receipt").first
    assert "This is the receipt of your erasure" in receipt.inner_text()
    assert receipt.get_by_test_id("faces-deleted").inner_text() == "1"
    assert studio["faces"]["alex-lacamoire"] in receipt.inner_text()
    receipt_id = receipt.get_by_test_id("receipt-id").inner_text()
    # the receipt's hash is in the erasure's audit record, which names the admin
    with sqlite3.connect(server.data_dir / "facegate.db") as db:
        operation, member, detail = db.execute(
            "SELECT operation, member, detail FROM audit_records WHERE detail LIKE ?",
            (f"%{receipt_id}%",),
        ).fetchone()
    assert operation == "EraseSubject" and member == "studio-admin" and "receipt_sha256" in detail
    page.goto(f"{server.url}/console/collections")
    row = page.locator("tr[data-collection=cast]")
    assert row.get_by_test_id("face-count").inner_text() == "1"
    assert row.get_by_test_id("user-count").inner_text() == "0"
    # a subject with no face: nothing done, said so
    page.goto(f"{server.url}/console/collections/erasures")
    page.get_by_label("Subject (ExternalImageId or UserId)").fill("nobody-at-all")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Erase the subject").click()
    assert "No face or user of subject 'nobody-at-all'" in page.get_by_role("alert").inner_text()
    page.context.close()


def test_role_separation(server, studio, browser):  # noqa: F811
    # an analyst cannot open the audit pages
    page = _signed_in(browser, server, "analyst-s", studio["passwords"]["analyst"])
    answer = page.goto(f"{server.url}/console/audit")
    assert answer.status == 403 and "Not your page" in page.inner_text("main")
    page.context.close()
    # an auditor cannot open the admin's erasure form (nor the collections)
    page = _signed_in(browser, server, "auditor-s", studio["passwords"]["auditor"])
    for path in ("/console/collections/erasures", "/console/collections"):
        answer = page.goto(f"{server.url}{path}")
        assert answer.status == 403 and "Not your page" in page.inner_text("main")
    page.context.close()
    # an analyst posting the erasure form by hand is refused, and nothing is erased
    with httpx.Client(base_url=server.url) as client:
        form = client.get("/console/sign-in").text
        token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
        password = studio["passwords"]["analyst"]
        client.post(
            "/console/sign-in", data={"csrf": token, "username": "analyst-s", "password": password}
        )
        home = client.get("/console").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', home).group(1)
        refused = client.post(
            "/console/collections/erasures",
            data={"csrf": csrf, "subject": "lin-manuel-miranda"},
        )
        assert refused.status_code == 403
    faces = studio["client"].list_faces(CollectionId="cast")["Faces"]
    assert [f["ExternalImageId"] for f in faces] == ["lin-manuel-miranda"]


def test_a_video_jobs_progress_is_live(server, studio, browser):  # noqa: F811
    key_id, secret = studio["keys"]
    uploaded = httpx.post(
        f"{server.url}/v1/videos",
        content=CLIP.read_bytes(),
        headers={"X-Api-Key": f"{key_id}:{secret}", "Content-Type": "video/mp4"},
        timeout=120,
    )
    assert uploaded.status_code == 201, uploaded.text
    video = {"S3Object": {"Bucket": "facegate", "Name": uploaded.json()["VideoId"]}}
    job_id = studio["client"].start_face_detection(Video=video, JobTag="door-camera")["JobId"]
    page = _signed_in(browser, server, "analyst-s", studio["passwords"]["analyst"])
    page.goto(f"{server.url}/console/collections/jobs")
    row = page.locator(f"tr[data-job='{job_id}']")
    assert row.locator("[data-progress-status]").inner_text() == "IN_PROGRESS"
    assert row.get_attribute("data-progress-url") == f"/console/collections/jobs/{job_id}.json"
    assert row.locator("progress").count() == 1
    page.wait_for_function(  # the first segments are in: the bar moved without a reload
        "id => document.getElementById(id).value > 0", arg=f"progress-{job_id}", timeout=120_000
    )
    screenshot(page, "video-jobs")
    # console.js polls the JSON route and updates the row in place, without a reload
    row.locator("[data-progress-status]").filter(has_text="SUCCEEDED").wait_for(timeout=240_000)
    assert row.locator("progress").evaluate("bar => bar.value") == 100
    assert "100%" in row.locator("[data-progress-text]").inner_text()
    status = page.request.get(f"{server.url}/console/collections/jobs/{job_id}.json").json()
    assert status["JobId"] == job_id and status["JobStatus"] == "SUCCEEDED"
    assert status["Progress"]["Percent"] == 100
    page.context.close()

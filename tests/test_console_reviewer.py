"""The reviewer's console pages, in Debian's Chromium: queue, review, decision, outcome.

A law-enforcement organization exempt for missing-persons work (as ``precinct`` in
tests/test_governance.py): Alice, an analyst, indexes London faces and searches with a case
reference, so the candidates are held for review; Bob is a reviewer who signs in to the
console; Carol is an analyst and a reviewer. Bob confirms a candidate in the browser and
Alice's key then fetches the released lead; a note is required; nobody reviews their own
search; two reviewers must agree where the use case says so; a video search's review says
where the person is seen; the pages are the reviewer's only.
"""

from __future__ import annotations

import re
import time

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
from tests.conftest import london_front as front
from tests.server import BASIS, Server

pytestmark = pytest.mark.models

CASE = {"X-Facegate-Case": "MP-2026-0117"}
ALL = ("verify", "identify", "enroll", "video-identify", "manage", "detect")
SUBJECTS = sorted(p.stem.split("_")[0] for p in (DATA / "london" / "neutral_front").glob("*.jpg"))
CLIP = DATA / "face_recognition" / "short_hamilton_clip.mp4"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # trafficking_victims at 90: the video clip's face matches the cast photo below 99
    srv = Server(
        tmp_path_factory.mktemp("console-reviews"),
        FACEGATE_WORKERS="1",
        FACEGATE_THRESHOLD_FLOORS="trafficking_victims=90",
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def precinct(server):
    """The organization, its use cases, its people (keys and console sign-ins) and the
    London faces Alice indexed."""
    org = "precinct"
    server.organization(org, "law_enforcement")
    for purpose in ("missing_persons", "trafficking_victims"):
        server.exemption(org, purpose)
    single = server.use_case(org, "missing_persons", ALL)
    double = server.use_case(org, "missing_persons", ALL, review_quorum=2)
    video = server.use_case(org, "trafficking_victims", ALL)
    passwords = {
        "alice": console_user(server, org, "alice", "alice", "analyst"),
        "bob": console_user(server, org, "bob", "bob", "reviewer"),
        "carol": console_user(server, org, "carol", "carol", "analyst", "reviewer"),
    }
    keys = {
        "alice": server.key(org, single, "alice"),
        "alice2": server.key(org, double, "alice"),
        "alice-video": server.key(org, video, "alice"),
        "carol": server.key(org, single, "carol"),
    }
    enrol = server.client(keys["alice"], headers={**CASE, **BASIS})
    enrol.create_collection(CollectionId="missing")
    faces = {}
    for subject in SUBJECTS[:4]:
        record = enrol.index_faces(
            CollectionId="missing", Image={"Bytes": front(subject)}, ExternalImageId=subject
        )["FaceRecords"][0]
        faces[subject] = record["Face"]["FaceId"]
    return passwords, keys, faces


def search(server: Server, key, subject: str) -> str:
    """A held search (another photo of ``subject``): its review id."""
    answer = server.client(key, headers=CASE).search_faces_by_image(
        CollectionId="missing", Image={"Bytes": front(subject, smiling=True)}
    )
    assert answer["FaceMatches"] == []
    return answer["ResponseMetadata"]["HTTPHeaders"]["x-facegate-review-id"]


def rest(server: Server, key) -> httpx.Client:
    return httpx.Client(
        base_url=f"{server.url}/v1", headers={"X-Api-Key": f"{key[0]}:{key[1]}"}, timeout=60
    )


def result_of(server: Server, key, review_id: str) -> dict:
    with rest(server, key) as client:
        answer = client.get(f"/reviews/{review_id}/result")
    assert answer.status_code == 200, answer.text
    return answer.json()


def signed_in(browser, server: Server, who: str, passwords):  # noqa: F811
    page = new_page(browser)
    sign_in(page, server, who, passwords[who])
    return page


def open_review(page, server: Server, review_id: str) -> None:
    """From the queue, by the review's row."""
    page.goto(f"{server.url}/console/reviews")
    page.locator(f"tr[data-review-id='{review_id}'] a").click()
    page.wait_for_url(re.compile(rf".*/console/reviews/{review_id}$"))


def test_a_reviewer_confirms_a_candidate_and_the_requester_fetches_the_lead(
    server,
    precinct,
    browser,  # noqa: F811
):
    passwords, keys, faces = precinct
    subject = SUBJECTS[0]
    first = search(server, keys["alice"], SUBJECTS[1])  # an older review, listed first
    review_id = search(server, keys["alice"], subject)
    assert result_of(server, keys["alice"], review_id)["Status"] == "open"

    page = signed_in(browser, server, "bob", passwords)
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Reviews").click()
    page.wait_for_url(re.compile(r".*/console/reviews$"))
    rows = page.locator("[data-testid=queue] tbody tr")
    ids = [rows.nth(i).get_attribute("data-review-id") for i in range(rows.count())]
    assert ids.index(first) < ids.index(review_id)  # oldest first
    row = page.locator(f"tr[data-review-id='{review_id}']").inner_text()
    assert CASE["X-Facegate-Case"] in row and "UTC" in row and "left" in row  # the deadline
    screenshot(page, "reviewer-queue")

    open_review(page, server, review_id)
    notice = page.get_by_test_id("lead-notice").inner_text()
    assert "Investigative lead, not an identification" in notice
    assert page.get_by_test_id("effective-threshold").inner_text() == "99"
    probe = page.get_by_test_id("probe").locator("img")
    assert probe.get_attribute("src").startswith("data:image/jpeg;base64,")
    assert probe.get_attribute("alt").startswith("Probe")
    assert probe.evaluate("img => img.complete && img.naturalWidth > 20")  # a real image
    candidates = page.get_by_test_id("candidate")
    assert candidates.count() >= 1
    first_candidate = candidates.first
    assert first_candidate.get_attribute("data-candidate-id") == faces[subject]
    crop = first_candidate.locator("img")
    assert crop.get_attribute("src").startswith("data:image/jpeg;base64,")
    assert subject in crop.get_attribute("alt")
    assert crop.evaluate("img => img.complete && img.naturalWidth > 20")
    assert re.search(r"Similarity\s+99\.\d\d|Similarity\s+100\.00", first_candidate.inner_text())

    page.get_by_label(f"Confirm candidate 1 ({subject})").check()
    page.get_by_label("Note (required)").fill("Same ear shape and hairline as the report photo.")
    screenshot(page, "reviewer-review")
    page.get_by_role("button", name="Confirm the ticked candidates").click()
    page.wait_for_url(re.compile(rf".*/console/reviews/{review_id}/outcome$"))
    outcome = page.get_by_test_id("outcome")
    assert outcome.get_attribute("data-status") == "confirmed"
    assert "Confirmed" in outcome.inner_text() and "investigative lead" in outcome.inner_text()
    page.goto(f"{server.url}/console/reviews")
    assert page.locator(f"tr[data-review-id='{review_id}']").count() == 0  # decided: gone
    page.context.close()

    released = result_of(server, keys["alice"], review_id)
    assert released["Status"] == "confirmed" and released["Label"] == "INVESTIGATIVE_LEAD"
    assert "not an identification" in released["Notice"]
    matches = released["Result"]["FaceMatches"]
    assert [m["Face"]["FaceId"] for m in matches] == [faces[subject]]
    assert matches[0]["Face"]["ExternalImageId"] == subject

    # The decision is recorded as Bob's, through the console, with his note's decision.
    operator = server.operator_keys()
    with httpx.Client(headers={"X-Api-Key": ":".join(operator)}, timeout=60) as client:
        records = client.get(
            f"{server.url}/v1/audit/records",
            params={"operation": "DecideReview", "organization": "precinct"},
        ).json()["Records"]
    mine = [r for r in records if r["ReviewId"] == review_id]
    assert len(mine) == 1
    assert mine[0]["Member"] == "bob" and mine[0]["AccessKeyId"] == "console"
    assert mine[0]["Decision"] == "allow"


def test_a_note_is_required_and_nothing_is_decided_without_one(
    server,
    precinct,
    browser,  # noqa: F811
):
    passwords, keys, _faces = precinct
    subject = SUBJECTS[2]
    review_id = search(server, keys["alice"], subject)
    page = signed_in(browser, server, "bob", passwords)
    open_review(page, server, review_id)
    page.get_by_label(re.compile(r"Confirm candidate 1")).check()
    # An empty note: the browser does not send the form.
    page.get_by_role("button", name="Confirm the ticked candidates").click()
    assert page.get_by_label("Note (required)").evaluate("e => e.validity.valueMissing")
    assert page.url.endswith(f"/console/reviews/{review_id}")
    # Only spaces pass the browser's check: the server refuses, says why, keeps the ticks.
    page.get_by_label("Note (required)").fill("   ")
    with page.expect_navigation():
        page.get_by_role("button", name="Confirm the ticked candidates").click()
    alert = page.get_by_role("alert").inner_text()
    assert "Not decided" in alert and "note" in alert.lower()
    assert page.get_by_label(re.compile(r"Confirm candidate 1")).is_checked()
    # Confirming with nothing ticked is refused too.
    page.get_by_label(re.compile(r"Confirm candidate 1")).uncheck()
    page.get_by_label("Note (required)").fill("Looks like the same person.")
    with page.expect_navigation():
        page.get_by_role("button", name="Confirm the ticked candidates").click()
    assert "REJECT" in page.get_by_role("alert").inner_text()
    # A form posted without the session's CSRF token is refused.
    forged = page.request.post(
        f"{server.url}/console/reviews/{review_id}/decision",
        form={"decision": "reject", "note": "forged"},
    )
    assert forged.status == 403
    assert result_of(server, keys["alice"], review_id)["Status"] == "open"  # nothing decided
    page.goto(f"{server.url}/console/reviews")
    assert page.locator(f"tr[data-review-id='{review_id}']").count() == 1
    # Rejecting, with a note, closes it: nothing is released.
    open_review(page, server, review_id)
    page.get_by_label("Note (required)").fill("Different jaw line and nose.")
    page.get_by_role("button", name="Reject all candidates").click()
    page.wait_for_url(re.compile(rf".*/console/reviews/{review_id}/outcome$"))
    assert page.get_by_test_id("outcome").get_attribute("data-status") == "rejected"
    page.context.close()
    rejected = result_of(server, keys["alice"], review_id)
    assert rejected["Status"] == "rejected" and "Result" not in rejected


def test_a_reviewer_does_not_see_a_review_of_their_own_search(
    server,
    precinct,
    browser,  # noqa: F811
):
    passwords, keys, _faces = precinct
    own = search(server, keys["carol"], SUBJECTS[3])  # Carol's own member key
    other = search(server, keys["alice"], SUBJECTS[3])
    page = signed_in(browser, server, "carol", passwords)
    page.goto(f"{server.url}/console/reviews")
    listed = page.locator("[data-testid=queue] tbody tr")
    ids = {listed.nth(i).get_attribute("data-review-id") for i in range(listed.count())}
    assert other in ids and own not in ids
    # Nor can she open it by its address: HUMAN-REVIEW refuses, the page says why.
    answer = page.goto(f"{server.url}/console/reviews/{own}")
    assert answer.status == 403
    assert "HUMAN-REVIEW" in page.locator("main").inner_text()
    assert page.get_by_test_id("candidate").count() == 0
    # Another organization's review, or none, is "not found".
    assert page.goto(f"{server.url}/console/reviews/no-such-review").status == 404
    page.context.close()


def test_two_reviewers_must_agree_where_the_use_case_says_so(
    server,
    precinct,
    browser,  # noqa: F811
):
    passwords, keys, faces = precinct
    subject = SUBJECTS[1]
    review_id = search(server, keys["alice2"], subject)
    for reviewer, expected in (("bob", "open"), ("carol", "confirmed")):
        page = signed_in(browser, server, reviewer, passwords)
        open_review(page, server, review_id)
        assert "2, who must agree" in page.locator("main").inner_text()
        page.get_by_label(f"Confirm candidate 1 ({subject})").check()
        page.get_by_label("Note (required)").fill(f"{reviewer}: same person.")
        page.get_by_role("button", name="Confirm the ticked candidates").click()
        page.wait_for_url(re.compile(rf".*/console/reviews/{review_id}/outcome$"))
        outcome = page.get_by_test_id("outcome")
        assert outcome.get_attribute("data-status") == expected
        if expected == "open":
            assert "Waiting for the second reviewer" in outcome.inner_text()
            assert result_of(server, keys["alice2"], review_id)["Status"] == "open"
        page.context.close()
    released = result_of(server, keys["alice2"], review_id)
    assert released["Label"] == "INVESTIGATIVE_LEAD"
    assert [m["Face"]["FaceId"] for m in released["Result"]["FaceMatches"]] == [faces[subject]]


@pytest.mark.slow
def test_a_video_search_review_says_where_the_person_is_seen(
    server,
    precinct,
    browser,  # noqa: F811
):
    passwords, keys, _faces = precinct
    headers = {**CASE, **BASIS, "X-Facegate-Warrant": "W-2026-77"}
    client = server.client(keys["alice-video"], headers=headers)
    client.create_collection(CollectionId="reported")
    client.index_faces(
        CollectionId="reported",
        Image={"Bytes": (DATA / "face_recognition" / "lin-manuel-miranda.png").read_bytes()},
        ExternalImageId="reported-missing",
    )
    video_id = httpx.post(
        f"{server.url}/v1/videos",
        content=CLIP.read_bytes(),
        headers={"X-Api-Key": ":".join(keys["alice-video"]), "Content-Type": "video/mp4"},
        timeout=120,
    ).json()["VideoId"]
    job = client.start_face_search(
        Video={"S3Object": {"Bucket": "facegate", "Name": video_id}}, CollectionId="reported"
    )
    deadline = time.monotonic() + 300
    while client.get_face_search(JobId=job["JobId"])["JobStatus"] == "IN_PROGRESS":
        assert time.monotonic() < deadline, "the video search did not finish"
        time.sleep(0.5)
    with rest(server, keys["alice-video"]) as alice:
        status = alice.get(f"/video/jobs/{job['JobId']}").json()
    assert status["JobStatus"] == "SUCCEEDED" and len(status["ReviewIds"]) == 1
    review_id = status["ReviewIds"][0]

    page = signed_in(browser, server, "bob", passwords)
    open_review(page, server, review_id)
    assert "Search in a video" in page.locator("main").inner_text()
    said = page.get_by_test_id("seen").inner_text()
    seen = re.fullmatch(r"Seen from (\d+\.\d) s to (\d+\.\d) s", said)
    assert seen, said
    start, end = float(seen.group(1)), float(seen.group(2))
    assert 2.0 <= start <= 3.5 and start < end <= 9.2  # Lin-Manuel Miranda: about 2.8 s to 7.2 s
    assert page.get_by_test_id("effective-threshold").inner_text() == "90"
    assert page.get_by_test_id("candidate").count() == 1
    page.context.close()


def test_the_reviewer_pages_are_the_reviewers_only(
    server,
    precinct,
    browser,  # noqa: F811
):
    passwords, _keys, _faces = precinct
    analyst = signed_in(browser, server, "alice", passwords)
    answer = analyst.goto(f"{server.url}/console/reviews")
    assert answer.status == 403
    assert "Not your page" in analyst.locator("h1").inner_text()
    assert "reviewer" in analyst.get_by_role("alert").inner_text()
    analyst.context.close()
    reviewer = signed_in(browser, server, "bob", passwords)
    for path in ("/console/cameras", "/console/cameras/requests", "/console/cameras/requests/1"):
        answer = reviewer.goto(f"{server.url}{path}")
        assert answer.status == 403, path
        assert "Not your page" in reviewer.locator("h1").inner_text()
    reviewer.context.close()

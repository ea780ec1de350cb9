"""The rules through both front doors of a real server: boto3 and REST, SQLite and PostgreSQL.

Each row of the table is an organization of some sector with a use case (approved, revoked,
exempt or not), a request (operation, case reference, enrollment basis) and the exact outcome
and rule id; every row runs through boto3 and through REST. Then human review end to end,
surveillance caps across a restart, the moratorium's time limits, operator policies, the
admin API's guard and the decision records.
"""

from __future__ import annotations

import base64
import io
import json

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from PIL import Image
from sqlalchemy import create_engine, text

from tests.conftest import DATA, read
from tests.conftest import london_front as front
from tests.server import BASIS, Server, run_cli

pytestmark = pytest.mark.models

CASE = {"X-Facegate-Case": "CASE-2026-0042"}
ALL = ("verify", "identify", "enroll", "video-identify")
COMPARE = ("face_recognition/obama.jpg", "face_recognition/two_people.jpg")


SUBJECTS = sorted(p.stem.split("_")[0] for p in (DATA / "london" / "neutral_front").glob("*.jpg"))


@pytest.fixture(scope="module")
def server(tmp_path_factory, backend):
    srv = Server(tmp_path_factory.mktemp("gov"), **backend)
    yield srv
    srv.stop()


# --- organizations of every kind ---------------------------------------------------------------

PROFILES = {
    # name: (sector, purpose, operations, exemption, revoke the use case after issuing the key)
    "shop": ("commercial", "photo_organization", ALL[:3], None, False),
    "bank": ("commercial", "identity_verification", ("verify", "enroll"), None, False),
    "police": ("law_enforcement", "criminal_investigation", ALL, None, False),
    "police-mp": ("law_enforcement", "missing_persons", ALL, None, False),
    "police-mp-exempt": ("law_enforcement", "missing_persons", ALL, "missing_persons", False),
    "police-ci-exempt": (
        "law_enforcement",
        "criminal_investigation",
        ALL,
        "missing_persons",
        False,
    ),
    "city": ("government", "access_control", ALL[:3], None, False),
    "charity": ("nonprofit", "missing_persons", ALL, None, False),
    "lab": ("research", "research_evaluation", ALL[:3], None, False),
    "lapsed": ("commercial", "photo_organization", ALL[:3], None, True),
}


@pytest.fixture(scope="module")
def keys(server) -> dict[str, tuple[str, str]]:
    made = {}
    for name, (sector, purpose, operations, exemption, revoke) in PROFILES.items():
        server.organization(name, sector)
        if exemption:
            server.exemption(name, exemption)
        use_case = server.use_case(name, purpose, operations)
        made[name] = server.key(name, use_case)
        if revoke:
            server.ok(
                "POST",
                f"/use-cases/{use_case}/decision",
                {"decision": "revoke", "reason": "contract ended"},
            )
        # Every organization has its own collection (management is open to every key).
        server.client(made[name]).create_collection(CollectionId="gallery")
    return made


def _rest(server: Server, key: tuple[str, str], headers: dict[str, str]) -> httpx.Client:
    return httpx.Client(
        base_url=f"{server.url}/v1",
        headers={"X-Api-Key": f"{key[0]}:{key[1]}", **headers},
        timeout=120,
    )


def call(server: Server, door: str, key, operation: str, headers: dict[str, str], image: bytes):
    """(outcome, rules, answer headers, body): outcome is "ok" or the error type."""
    if door == "boto3":
        client = server.client(key, headers=headers)
        kwargs = {
            "CompareFaces": lambda: client.compare_faces(
                SourceImage={"Bytes": read(COMPARE[0])},
                TargetImage={"Bytes": read(COMPARE[1])},
                SimilarityThreshold=80,
            ),
            "SearchFacesByImage": lambda: client.search_faces_by_image(
                CollectionId="gallery", Image={"Bytes": image}, FaceMatchThreshold=80
            ),
            "IndexFaces": lambda: client.index_faces(
                CollectionId="gallery", Image={"Bytes": image}, ExternalImageId="probe"
            ),
            "DetectFaces": lambda: client.detect_faces(Image={"Bytes": image}),
        }[operation]
        try:
            body = kwargs()
        except ClientError as error:
            meta = error.response["ResponseMetadata"]["HTTPHeaders"]
            rules = meta.get("x-facegate-denied-by", "")
            return error.response["Error"]["Code"], rules, meta, error.response
        return "ok", "", body["ResponseMetadata"]["HTTPHeaders"], body
    with _rest(server, key, headers) as api:
        if operation == "CompareFaces":
            response = api.post(
                "/compare",
                files={"source": read(COMPARE[0]), "target": read(COMPARE[1])},
                data={"SimilarityThreshold": "80"},
            )
        elif operation == "SearchFacesByImage":
            response = api.post(
                "/collections/gallery/search",
                files={"image": image},
                data={"FaceMatchThreshold": "80"},
            )
        elif operation == "IndexFaces":
            response = api.post(
                "/collections/gallery/faces",
                files={"image": image},
                data={"ExternalImageId": "probe"},
            )
        else:
            response = api.post("/detect", files={"image": image})
    body = response.json()
    if response.status_code >= 300:
        assert response.status_code in (400, 403, 404, 429), response.text
        rules = ",".join(body["error"].get("rules", []))
        assert rules == response.headers.get("x-facegate-denied-by", "")
        return body["error"]["type"], rules, response.headers, body
    return "ok", "", response.headers, body


DENIED = "AccessDeniedException"
# (profile, request headers, operation, outcome, rule, effective threshold, held for review)
TABLE = [
    ("shop", BASIS, "IndexFaces", "ok", "", None, False),
    ("shop", {}, "IndexFaces", DENIED, "ENROLLMENT-BASIS", None, False),
    ("shop", {}, "SearchFacesByImage", "ok", "", 80, False),
    ("shop", {}, "CompareFaces", "ok", "", 80, False),
    ("bank", {}, "CompareFaces", "ok", "THRESHOLD-FLOOR", 99, False),
    ("bank", {}, "SearchFacesByImage", DENIED, "LIMITED-ACCESS", None, False),
    ("police", CASE, "SearchFacesByImage", DENIED, "MORATORIUM", None, False),
    ("police", CASE, "CompareFaces", DENIED, "MORATORIUM", None, False),
    ("police", {**CASE, **BASIS}, "IndexFaces", DENIED, "MORATORIUM", None, False),
    ("police", {}, "SearchFacesByImage", DENIED, "MORATORIUM,CASE-REFERENCE", None, False),
    ("police", {}, "DetectFaces", "ok", "", None, False),
    ("police-mp", CASE, "SearchFacesByImage", DENIED, "MORATORIUM", None, False),
    ("police-ci-exempt", CASE, "SearchFacesByImage", DENIED, "MORATORIUM", None, False),
    ("police-mp-exempt", {}, "SearchFacesByImage", DENIED, "CASE-REFERENCE", None, False),
    ("police-mp-exempt", CASE, "SearchFacesByImage", "ok", "", 99, True),
    ("police-mp-exempt", CASE, "CompareFaces", "ok", "", 99, False),
    ("city", {}, "SearchFacesByImage", DENIED, "CASE-REFERENCE", None, False),
    ("city", CASE, "SearchFacesByImage", "ok", "", 99, True),
    ("charity", {}, "SearchFacesByImage", "ok", "", 99, False),
    ("lab", {}, "CompareFaces", "ok", "", 80, False),
    ("lapsed", {}, "CompareFaces", DENIED, "LIMITED-ACCESS", None, False),
    ("lapsed", {}, "DetectFaces", "ok", "", None, False),
]


@pytest.mark.parametrize("door", ["boto3", "rest"])
@pytest.mark.parametrize(
    "profile, headers, operation, outcome, rules, effective, review",
    TABLE,
    ids=[f"{r[0]}-{r[2]}-{'+'.join(sorted(r[1])) or 'bare'}" for r in TABLE],
)
def test_rules_table(
    server, keys, door, profile, headers, operation, outcome, rules, effective, review
):
    image = front(SUBJECTS[0], smiling=True)
    got, got_rules, answer_headers, body = call(
        server, door, keys[profile], operation, headers, image
    )
    assert got == outcome, body
    assert answer_headers["x-facegate-policy-version"]
    if outcome != "ok":
        assert got_rules == rules
        message = body["Error"]["Message"] if door == "boto3" else body["error"]["message"]
        assert message.startswith(f"Denied by {rules.split(',')[0]}")
        return
    if effective is not None:
        assert float(answer_headers["x-facegate-requested-threshold"]) == 80
        assert float(answer_headers["x-facegate-effective-threshold"]) == effective
        if door == "rest":
            assert body["RequestedThreshold"] == 80 and body["EffectiveThreshold"] == effective
    assert ("x-facegate-review-id" in answer_headers) == review
    if review:
        assert body["FaceMatches"] == []
        if door == "rest":
            assert body["ReviewId"] == answer_headers["x-facegate-review-id"]


@pytest.mark.parametrize("door", ["boto3", "rest"])
def test_a_denial_comes_before_the_image_is_decoded(server, keys, door):
    """Garbage bytes: a denied request says which rule, never that the image is bad."""
    got, rules, _, _ = call(server, door, keys["police"], "SearchFacesByImage", CASE, b"x" * 500)
    assert (got, rules) == (DENIED, "MORATORIUM")
    got, _, _, _ = call(server, door, keys["shop"], "SearchFacesByImage", {}, b"x" * 500)
    assert got == "InvalidImageFormatException"


def test_no_attributes_and_no_live_streams(server, keys):
    client = server.client(keys["shop"])
    with pytest.raises(client.exceptions.AccessDeniedException) as denied:
        client.detect_faces(Image={"Bytes": front(SUBJECTS[0])}, Attributes=["ALL"])
    assert "NO-ATTRIBUTES" in str(denied.value)
    with pytest.raises(client.exceptions.AccessDeniedException) as live:
        client.create_stream_processor(
            Input={"KinesisVideoStream": {"Arn": "arn:aws:kinesisvideo:us-east-1:1:stream/x/1"}},
            Output={"KinesisDataStream": {"Arn": "arn:aws:kinesis:us-east-1:1:stream/y"}},
            Name="door-camera",
            Settings={"FaceSearch": {"CollectionId": "gallery"}},
            RoleArn="arn:aws:iam::123456789012:role/facegate",
        )
    assert "NO-REALTIME" in str(live.value)


def test_a_collection_can_carry_the_enrollment_basis(server, keys):
    client = server.client(keys["shop"])
    client.create_collection(
        CollectionId="consented",
        Tags={"facegate:legal-basis": "consent:signup-form", "facegate:provenance": "app upload"},
    )
    indexed = client.index_faces(CollectionId="consented", Image={"Bytes": front(SUBJECTS[0])})
    assert len(indexed["FaceRecords"]) == 1
    with pytest.raises(client.exceptions.AccessDeniedException) as denied:
        client.index_faces(CollectionId="gallery", Image={"Bytes": front(SUBJECTS[0])})
    assert "ENROLLMENT-BASIS" in str(denied.value) and "X-Facegate-Basis" in str(denied.value)


def test_law_enforcement_max_faces_cap(server, keys):
    client = server.client(keys["police-mp-exempt"], headers=CASE)
    with pytest.raises(client.exceptions.LimitExceededException) as capped:
        client.search_faces_by_image(
            CollectionId="gallery", Image={"Bytes": front(SUBJECTS[1])}, MaxFaces=11
        )
    assert "SURVEILLANCE-LIMITS" in str(capped.value)
    client.search_faces_by_image(
        CollectionId="gallery", Image={"Bytes": front(SUBJECTS[1])}, MaxFaces=10
    )


def test_search_caps_survive_a_restart(server):
    server.organization("hourly", "commercial")
    key = server.key("hourly", server.use_case("hourly", searches_per_hour=2))
    client = server.client(key)
    client.create_collection(CollectionId="gallery")
    probe = {"CollectionId": "gallery", "Image": {"Bytes": front(SUBJECTS[2])}}
    client.search_faces_by_image(**probe)
    client.search_faces_by_image(**probe)
    with pytest.raises(client.exceptions.ThrottlingException) as throttled:
        client.search_faces_by_image(**probe)
    assert "SURVEILLANCE-LIMITS" in str(throttled.value) and "per hour" in str(throttled.value)
    server.stop()
    server.start()
    client = server.client(key)
    with pytest.raises(client.exceptions.ThrottlingException):
        client.search_faces_by_image(**probe)
    with _rest(server, key, {}) as api:
        response = api.post("/collections/gallery/search", files={"image": front(SUBJECTS[2])})
    assert response.status_code == 429 and response.json()["error"]["rules"] == [
        "SURVEILLANCE-LIMITS"
    ]


# --- human review ------------------------------------------------------------------------------


def _jpeg(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


@pytest.fixture(scope="module")
def precinct(server):
    """A law-enforcement organization exempt for missing-persons work, with its people."""
    org = "precinct"
    server.organization(org, "law_enforcement")
    server.exemption(org, "missing_persons")
    single = server.use_case(org, "missing_persons", ALL)
    double = server.use_case(org, "missing_persons", ALL, review_quorum=2)
    server.member(org, "alice", "analyst")
    server.member(org, "bob", "reviewer")
    server.member(org, "carol", "reviewer", "analyst")
    people = {
        "alice": server.key(org, single, "alice"),
        "bob": server.key(org, single, "bob"),
        "carol": server.key(org, single, "carol"),
        "alice2": server.key(org, double, "alice"),
    }
    server.organization("other-precinct", "law_enforcement")
    other = server.use_case("other-precinct", "criminal_investigation", ALL)
    server.member("other-precinct", "dave", "reviewer")
    people["dave"] = server.key("other-precinct", other, "dave")
    enrol = server.client(people["alice"], headers={**CASE, **BASIS})
    enrol.create_collection(CollectionId="missing")
    faces = {}
    for subject in SUBJECTS[:6]:
        record = enrol.index_faces(
            CollectionId="missing", Image={"Bytes": front(subject)}, ExternalImageId=subject
        )["FaceRecords"][0]
        faces[subject] = record["Face"]["FaceId"]
    return people, faces


def _search(server, key, subject: str) -> str:
    client = server.client(key, headers=CASE)
    answer = client.search_faces_by_image(
        CollectionId="missing", Image={"Bytes": front(subject, smiling=True)}
    )
    assert answer["FaceMatches"] == []
    return answer["ResponseMetadata"]["HTTPHeaders"]["x-facegate-review-id"]


def test_review_from_search_to_released_lead(server, precinct):
    people, faces = precinct
    subject = SUBJECTS[3]
    review_id = _search(server, people["alice"], subject)
    with _rest(server, people["alice"], {}) as alice:
        pending = alice.get(f"/reviews/{review_id}/result").json()
        assert pending["Status"] == "open" and "Result" not in pending
        assert pending["CaseReference"] == CASE["X-Facegate-Case"]
        assert pending["EffectiveThreshold"] == 99
        peek = alice.get(f"/reviews/{review_id}")
        assert peek.status_code == 403 and peek.json()["error"]["rules"] == ["HUMAN-REVIEW"]
    with _rest(server, people["bob"], {}) as bob:
        queue = bob.get("/reviews").json()["Reviews"]
        assert review_id in [r["ReviewId"] for r in queue]
        assert [r["CreatedAt"] for r in queue] == sorted(r["CreatedAt"] for r in queue)
        shown = bob.get(f"/reviews/{review_id}").json()
        assert _jpeg(shown["Probe"]["Crop"]).format == "JPEG"
        candidates = shown["Candidates"]
        assert candidates and candidates[0]["FaceId"] == faces[subject]
        assert all(_jpeg(c["Crop"]).size[0] > 20 for c in candidates)
        assert all(c["Similarity"] >= 99 for c in candidates)
        no_note = bob.post(
            f"/reviews/{review_id}/decision",
            json={"Decision": "CONFIRM", "CandidateIds": [faces[subject]], "Note": ""},
        )
        assert no_note.status_code == 400
        decided = bob.post(
            f"/reviews/{review_id}/decision",
            json={
                "Decision": "CONFIRM",
                "CandidateIds": [faces[subject]],
                "Note": "Same scar above the left eyebrow; hairline matches.",
            },
        )
        assert decided.status_code == 200, decided.text
        assert decided.json()["Status"] == "confirmed"
        again = bob.post(
            f"/reviews/{review_id}/decision", json={"Decision": "REJECT", "Note": "changed mind"}
        )
        assert again.status_code == 409
    with _rest(server, people["alice"], {}) as alice:
        released = alice.get(f"/reviews/{review_id}/result").json()
    assert released["Status"] == "confirmed" and released["Label"] == "INVESTIGATIVE_LEAD"
    assert "not an identification" in released["Notice"]
    matches = released["Result"]["FaceMatches"]
    assert [m["Face"]["FaceId"] for m in matches] == [faces[subject]]
    assert matches[0]["Face"]["ExternalImageId"] == subject


def test_reviewers_never_see_their_own_searches_nor_other_organizations(server, precinct):
    people, faces = precinct
    review_id = _search(server, people["carol"], SUBJECTS[4])
    with _rest(server, people["carol"], {}) as carol:
        assert review_id not in [r["ReviewId"] for r in carol.get("/reviews").json()["Reviews"]]
        own = carol.post(
            f"/reviews/{review_id}/decision",
            json={"Decision": "CONFIRM", "CandidateIds": [faces[SUBJECTS[4]]], "Note": "me"},
        )
        assert own.status_code == 403 and "HUMAN-REVIEW" in own.json()["error"]["rules"]
    with _rest(server, people["dave"], {}) as dave:
        assert dave.get("/reviews").json()["Reviews"] == []
        foreign = dave.get(f"/reviews/{review_id}")
        unknown = dave.get("/reviews/00000000-0000-4000-8000-000000000000")
        assert foreign.status_code == unknown.status_code == 404
        # another organization's review answers exactly like one that does not exist
        assert foreign.json()["error"]["message"].replace(review_id, "ID") == unknown.json()[
            "error"
        ]["message"].replace("00000000-0000-4000-8000-000000000000", "ID")
        assert "rules" not in foreign.json()["error"]
        assert dave.get(f"/reviews/{review_id}/result").status_code == 404
    with _rest(server, people["alice"], {}) as alice:  # not hers either
        assert alice.get(f"/reviews/{review_id}/result").status_code == 404
    # the CLI acts as a reviewer through the same policies
    done = server.cli(
        "review", "reject", review_id, "--as-key", people["bob"][0], "--note", "not him", "--json"
    )
    assert json.loads(done.stdout)["Status"] == "rejected"
    seen = server.cli("review", "result", review_id, "--as-key", people["carol"][0], "--json")
    assert json.loads(seen.stdout)["Status"] == "rejected"
    with _rest(server, people["carol"], {}) as carol:
        rejected = carol.get(f"/reviews/{review_id}/result").json()
    assert rejected["Status"] == "rejected" and "Result" not in rejected


def test_two_reviewers_must_agree(server, precinct):
    people, faces = precinct
    subject = SUBJECTS[5]
    review_id = _search(server, people["alice2"], subject)
    confirm = {"Decision": "CONFIRM", "CandidateIds": [faces[subject]], "Note": "match"}
    with _rest(server, people["bob"], {}) as bob:
        first = bob.post(f"/reviews/{review_id}/decision", json=confirm).json()
    assert first["Status"] == "open" and "2 reviewers" in first["Waiting"]
    with _rest(server, people["alice2"], {}) as alice:
        assert alice.get(f"/reviews/{review_id}/result").json()["Status"] == "open"
    with _rest(server, people["carol"], {}) as carol:
        second = carol.post(f"/reviews/{review_id}/decision", json=confirm).json()
    assert second["Status"] == "confirmed"
    with _rest(server, people["alice2"], {}) as alice:
        result = alice.get(f"/reviews/{review_id}/result").json()
    assert result["Label"] == "INVESTIGATIVE_LEAD" and result["Result"]["FaceMatches"]


def test_searches_by_face_and_by_user_are_reviewed_too(server, precinct):
    people, faces = precinct
    alice = server.client(people["alice"], headers={**CASE, **BASIS})
    by_face = alice.search_faces(CollectionId="missing", FaceId=faces[SUBJECTS[0]])
    face_review = by_face["ResponseMetadata"]["HTTPHeaders"]["x-facegate-review-id"]
    assert by_face["FaceMatches"] == [] and by_face["SearchedFaceId"] == faces[SUBJECTS[0]]
    alice.create_user(CollectionId="missing", UserId="child-17")
    alice.associate_faces(CollectionId="missing", UserId="child-17", FaceIds=[faces[SUBJECTS[1]]])
    by_user = alice.search_users_by_image(
        CollectionId="missing", Image={"Bytes": front(SUBJECTS[1])}
    )
    user_review = by_user["ResponseMetadata"]["HTTPHeaders"]["x-facegate-review-id"]
    assert by_user["UserMatches"] == []
    with _rest(server, people["bob"], {}) as bob:
        shown = bob.get(f"/reviews/{face_review}").json()
        assert shown["Probe"]["FaceId"] == faces[SUBJECTS[0]]
        assert _jpeg(shown["Probe"]["Crop"]).format == "JPEG"
        users = bob.get(f"/reviews/{user_review}").json()["Candidates"]
        assert [c["UserId"] for c in users] == ["child-17"] and _jpeg(users[0]["Crop"])
        confirmed = bob.post(
            f"/reviews/{user_review}/decision",
            json={"Decision": "CONFIRM", "CandidateIds": ["child-17"], "Note": "same person"},
        )
        assert confirmed.json()["Status"] == "confirmed"
    with _rest(server, people["alice"], {}) as api:
        released = api.get(f"/reviews/{user_review}/result").json()
    assert [m["User"]["UserId"] for m in released["Result"]["UserMatches"]] == ["child-17"]


def test_crops_are_kept_only_where_review_needs_them_and_sealed(server, keys, precinct, backend):
    engine = create_engine(server.database_url)
    with engine.connect() as db:
        rows = db.execute(
            text(
                "SELECT c.name, o.name, count(fc.face_row_id) FROM collections c "
                "JOIN organizations o ON o.id = c.organization_id "
                "JOIN faces f ON f.collection_id = c.id "
                "LEFT JOIN face_crops fc ON fc.face_row_id = f.row_id GROUP BY c.name, o.name"
            )
        ).all()
        sealed = db.execute(text("SELECT sealed FROM face_crops LIMIT 1")).scalar()
        bases = db.execute(
            text(
                "SELECT DISTINCT f.legal_basis, f.provenance FROM faces f "
                "JOIN collections c ON c.id = f.collection_id WHERE c.name = 'missing'"
            )
        ).all()
    engine.dispose()
    crops = {(c, o): n for c, o, n in rows}
    assert crops[("missing", "precinct")] == 6
    assert crops.get(("gallery", "shop"), 0) == 0
    assert not bytes(sealed).startswith(b"\xff\xd8")  # not a JPEG in clear
    assert bases == [(BASIS["X-Facegate-Basis"], BASIS["X-Facegate-Provenance"])]


# --- time, operator policies, administration, records -------------------------------------------


@pytest.mark.parametrize(
    "env",
    [{"FACEGATE_POLICY_CLOCK": "2020-06-01T12:00:00Z"}, {"FACEGATE_MORATORIUM_END": "2021-06-10"}],
    ids=["before-the-moratorium", "after-a-configured-end"],
)
def test_law_enforcement_outside_the_moratorium(tmp_path, env):
    server = Server(tmp_path, FACEGATE_WORKERS="1", **env)
    try:
        server.organization("police", "law_enforcement")
        key = server.key("police", server.use_case("police", "criminal_investigation", ALL))
        client = server.client(key, headers=CASE)
        client.create_collection(CollectionId="gallery")
        answer = client.search_faces_by_image(
            CollectionId="gallery", Image={"Bytes": front(SUBJECTS[0])}
        )
        headers = answer["ResponseMetadata"]["HTTPHeaders"]
        assert headers["x-facegate-effective-threshold"] == "99"
        assert headers["x-facegate-review-id"]  # law enforcement is still reviewed
        without_case = server.client(key)
        with pytest.raises(without_case.exceptions.AccessDeniedException) as denied:
            without_case.search_faces_by_image(
                CollectionId="gallery", Image={"Bytes": front(SUBJECTS[0])}
            )
        assert "CASE-REFERENCE" in str(denied.value)
    finally:
        server.stop()


WEEKEND = """
@id("NO-WEEKEND-IDENTIFICATION")
@advice("This operator allows no identification on Saturdays and Sundays (UTC).")
forbid (principal, action in Facegate::Action::"identify", resource)
when { context.weekday >= 6 };
"""


def test_operator_policy_and_invalid_policy(tmp_path):
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "weekend.cedar").write_text(WEEKEND)
    server = Server(
        tmp_path / "data",
        FACEGATE_WORKERS="1",
        FACEGATE_POLICY_DIR=str(policies),
        FACEGATE_POLICY_CLOCK="2026-11-28T10:00:00Z",  # a Saturday
    )
    try:
        client = server.client(server.analyst_keys())
        client.create_collection(CollectionId="gallery")
        with pytest.raises(client.exceptions.AccessDeniedException) as denied:
            client.search_faces_by_image(
                CollectionId="gallery", Image={"Bytes": front(SUBJECTS[0])}
            )
        assert "NO-WEEKEND-IDENTIFICATION" in str(denied.value)
        client.compare_faces(
            SourceImage={"Bytes": read(COMPARE[0])}, TargetImage={"Bytes": read(COMPARE[1])}
        )
        listed = server.ok("GET", "/policies")
        ours = [p for p in listed["policies"] if p["id"] == "NO-WEEKEND-IDENTIFICATION"]
        assert ours and not ours[0]["shipped"] and ours[0]["source"].endswith("weekend.cedar")
    finally:
        server.stop()
    (policies / "broken.cedar").write_text(
        '@id("B") forbid (principal, action, resource) when { context.no_such_field };'
    )
    with pytest.raises(RuntimeError) as refused:
        Server(tmp_path / "data", FACEGATE_POLICY_DIR=str(policies))
    assert "broken.cedar" in str(refused.value) and "cannot be loaded" in str(refused.value)
    done = run_cli(tmp_path / "data", "policy", "validate", str(policies), check=False)
    assert done.returncode == 3 and "no_such_field" in done.stderr


def test_administration_is_for_operator_keys(server, keys):
    for method, path, body in (
        ("POST", "/organizations", {"name": "x", "sector": "commercial"}),
        ("POST", "/policies/explain", {"operation": "CompareFaces", "access_key_id": "NOPE"}),
    ):
        response = server.admin(method, path, body, keys=keys["shop"])
        assert response.status_code == 403
        assert response.json()["error"]["rules"] == ["OPERATOR-ONLY"]
    explained = server.ok(
        "POST",
        "/policies/explain",
        {"operation": "SearchFacesByImage", "access_key_id": keys["police"][0], "threshold": 80},
    )
    assert explained["decision"] == "deny"
    assert [p["id"] for p in explained["deciding_policies"]] == ["MORATORIUM", "CASE-REFERENCE"]
    described = server.cli(
        "policy",
        "explain",
        "--operation",
        "CompareFaces",
        "--sector",
        "government",
        "--purpose",
        "identity_verification",
        "--operations",
        "verify",
        "--case",
        "C-1",
        "--threshold",
        "90",
        "--json",
    )
    explained = json.loads(described.stdout)
    assert explained["decision"] == "allow" and explained["effective_threshold"] == 99
    reviewing = server.cli(
        "policy",
        "explain",
        "--operation",
        "DecideReview",
        "--sector",
        "government",
        "--roles",
        "analyst",
        "--json",
    )
    assert [p["id"] for p in json.loads(reviewing.stdout)["deciding_policies"]] == [
        "HUMAN-REVIEW.reviewer-role"
    ]
    # a sector is changed by the operator, on the record
    server.organization("renamed-sector", "commercial")
    server.cli("org", "set-sector", "renamed-sector", "government")
    assert {o["name"]: o["sector"] for o in server.ok("GET", "/organizations")["organizations"]}[
        "renamed-sector"
    ] == "government"
    patched = server.admin("PATCH", "/organizations/renamed-sector", {"sector": "research"})
    assert patched.status_code == 200, patched.text


def test_every_request_leaves_a_decision_record(server, keys, backend):
    engine = create_engine(server.database_url)
    with engine.connect() as db:
        records = db.execute(
            text(
                "SELECT organization, operation, decision, policy_version, policies, "
                "requested_threshold, effective_threshold, case_reference, review_id, "
                "error_type, access_key_id, request_id FROM audit_records ORDER BY seq"
            )
        ).all()
    engine.dispose()
    denied = [r for r in records if r.organization == "police" and r.decision == "deny"]
    assert denied and all(json.loads(r.policies)[0] == "MORATORIUM" for r in denied)
    assert all(r.policy_version and r.error_type == "AccessDeniedException" for r in denied)
    floored = [
        r
        for r in records
        if r.organization == "police-mp-exempt"
        and r.operation == "SearchFacesByImage"
        and r.decision == "allow"
    ]
    assert floored and floored[0].requested_threshold == 80 and floored[0].effective_threshold == 99
    assert floored[0].case_reference == CASE["X-Facegate-Case"] and floored[0].review_id
    assert "HUMAN-REVIEW" in json.loads(floored[0].policies)
    admin = [r for r in records if r.operation.startswith("Admin.")]
    assert {"Admin.CreateOrganization", "Admin.IssueKey", "Admin.ApproveUseCase"} <= {
        r.operation for r in admin
    }
    # an administrative change made through the API names the request it answered
    through_api = [r for r in admin if r.access_key_id]
    assert through_api and all(r.request_id for r in through_api)


def test_a_parameter_name_with_a_nul_character_is_refused_and_recorded(server, keys, backend):
    """PostgreSQL text cannot hold NUL: the refusal is still the documented 400 (not a 500),
    and its record keeps U+FFFD where the echoed name had the NUL."""
    body = json.dumps({"CollectionId": "nul-probe", "Bad\u0000Name": 1}).encode()
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "RekognitionService.CreateCollection",
    }
    request = AWSRequest(method="POST", url=f"{server.url}/", data=body, headers=headers)
    SigV4Auth(Credentials(*keys["shop"]), "rekognition", "us-east-1").add_auth(request)
    response = httpx.post(f"{server.url}/", content=body, headers=dict(request.headers))
    assert response.status_code == 400, response.text
    assert response.json()["__type"] == "InvalidParameterException"
    engine = create_engine(server.database_url)
    with engine.connect() as db:
        found = db.execute(
            text("SELECT decision, reasons FROM audit_records WHERE request_id = :id"),
            {"id": response.headers["x-amzn-RequestId"]},
        ).one()
    engine.dispose()
    assert found.decision == "deny" and "Bad\ufffdName" in found.reasons


def test_the_operator_is_created_even_if_an_organization_came_first(tmp_path):
    run_cli(tmp_path, "org", "create", "early", "--sector", "nonprofit")
    server = Server(tmp_path, FACEGATE_WORKERS="1")
    try:
        assert server.ok("GET", "/organizations")["organizations"]  # operator key works
    finally:
        server.stop()


def test_organization_admins_register_their_own_use_cases(server):
    org = "self-service"
    server.organization(org, "nonprofit")
    first = server.use_case(org, "media_archive")
    server.member(org, "ada", "admin")
    server.member(org, "abe", "analyst")
    admin, analyst = server.key(org, first, "ada"), server.key(org, first, "abe")
    registration = {
        "purpose": "missing_persons",
        "description": "search for runaways reported by families",
        "legal_basis": "consent of the reporting family",
        "operations": ["identify", "enroll"],
        "expires": "2099-01-01",
    }
    with _rest(server, analyst, {}) as api:
        refused = api.post("/use-cases", json=registration)
    assert refused.status_code == 403 and refused.json()["error"]["rules"] == ["ORG-ADMIN"]
    with _rest(server, admin, {}) as api:
        made = api.post("/use-cases", json=registration)
        assert made.status_code == 201, made.text
        assert made.json()["status"] == "pending" and made.json()["registered_by"] == "ada"
        other = api.post("/use-cases", json={**registration, "organization": "shop"})
        assert other.status_code == 400
    server.ok(
        "POST", f"/use-cases/{made.json()['id']}/decision", {"decision": "approve", "reason": "ok"}
    )
    with _rest(server, admin, {}) as api:
        listed = {u["id"]: u["status"] for u in api.get("/use-cases").json()["use_cases"]}
    assert listed == {first: "approved", made.json()["id"]: "approved"}

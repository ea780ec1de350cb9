"""Footage sharing under FOOTAGE-CONSENT, end to end: a real server, SQLite and PostgreSQL.

Two community organizations of camera owners (maple-street: Alice and Bob own cameras, Carol
is its admin; elm-street: Dave) and a police agency (Ines, analyst; Ahmed, auditor). The
agency asks for an hour of footage from an area or from named cameras; each owner approves
or declines for their own cameras, may revoke an approval until footage is shared, and
shares the real H.264 clip (tests/data/face_recognition/short_hamilton_clip.mp4, 9.2 s) as an
upload or as a file of the video directory. Every refusal names FOOTAGE-CONSENT, the agency
sees counts and never who declined, and every request leaves one audit record.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import DATA
from tests.server import Server, run_cli

pytestmark = [pytest.mark.models, pytest.mark.slow]

CLIP = DATA / "face_recognition" / "short_hamilton_clip.mp4"
CLIP_MS = 9176
NOW = datetime.now(UTC)
WINDOW = (NOW - timedelta(hours=3), NOW - timedelta(hours=2))
INSIDE = WINDOW[0] + timedelta(minutes=10)
PEOPLE = {
    # member: (organization, roles)
    "alice": ("maple-street", ("owner",)),
    "bob": ("maple-street", ("owner",)),
    "carol": ("maple-street", ("admin",)),
    "olga": ("maple-street", ("auditor",)),
    "dave": ("elm-street", ("owner",)),
    "ines": ("harbor-police", ("analyst",)),
    "ahmed": ("harbor-police", ("auditor",)),
}
CAMERAS = {
    # name: (who registers it, owner, latitude, longitude); all but the cabin within 300 m
    "alice-porch": ("alice", None, 47.61000, -122.34000),
    "alice-garage": ("carol", "alice", 47.61020, -122.34030),
    "bob-door": ("bob", None, 47.61040, -122.33980),
    "bob-cabin": ("bob", None, 48.20000, -121.50000),
    "dave-yard": ("dave", None, 47.61120, -122.33910),
}


def operation_of(method: str, path: str) -> str:
    if path.startswith("/cameras"):
        return "RegisterCamera" if method == "POST" else "ListCameras"
    if path == "/footage-requests":
        return "RequestFootage" if method == "POST" else "ListFootageRequests"
    for end, operation in (
        ("/decision", "DecideFootageRequest"),
        ("/close", "CloseFootageRequest"),
        ("/footage", "ShareFootage"),
        ("/footage/link", "ShareFootage"),
    ):
        if path.endswith(end):
            return operation
    return "GetFootageRequest"


class Api:
    """One person's REST client; every footage request's (x-request-id, operation) is kept in
    ``sent`` (one list per server) for the audit check."""

    def __init__(self, server: Server, keys: tuple[str, str], sent: list[tuple[str, str]]):
        self.keys = keys
        self.sent = sent
        self.http = httpx.Client(
            base_url=f"{server.url}/v1", headers={"X-Api-Key": ":".join(keys)}, timeout=120
        )

    def __call__(self, method: str, path: str, status: int = 200, **kw) -> dict:
        response = self.http.request(method, path, **kw)
        if path.startswith(("/cameras", "/footage-requests")):
            self.sent.append((response.headers["x-request-id"], operation_of(method, path)))
        assert response.status_code == status, response.text
        return response.json()

    def denied(self, method: str, path: str, status: int = 403, **kw) -> dict:
        """A refusal: its error document."""
        return self(method, path, status, **kw)["error"]

    def share(self, request: int, camera: int, start: datetime, status: int = 201) -> dict:
        return self(
            "POST",
            f"/footage-requests/{request}/footage",
            status,
            params={"camera": camera, "recorded_from": start.isoformat()},
            content=CLIP.read_bytes(),
            headers={"Content-Type": "video/mp4"},
        )

    def decide(self, request: int, decision: str, status: int = 200, **kw) -> dict:
        body = {"Decision": decision, **kw}
        return self("POST", f"/footage-requests/{request}/decision", status, json=body)


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("library")
    shutil.copy(CLIP, folder / "porch-export.mp4")
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory, backend, library):
    srv = Server(
        tmp_path_factory.mktemp("footage"),
        FACEGATE_WORKERS="1",
        FACEGATE_VIDEO_DIR=str(library),
        **backend,
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def people(server) -> dict[str, Api]:
    """The organizations, their approved use cases, the members and a key for each."""
    use_cases = {}
    for org, sector, purpose, operations in (
        ("maple-street", "community", "footage_sharing", ("detect",)),
        ("elm-street", "community", "footage_sharing", ("detect",)),
        ("harbor-police", "law_enforcement", "criminal_investigation", ("detect", "manage")),
    ):
        server.organization(org, sector)
        use_cases[org] = server.use_case(org, purpose, operations)
    made, sent = {}, []
    for name, (org, roles) in PEOPLE.items():
        server.member(org, name, *roles)
        made[name] = Api(server, server.key(org, use_cases[org], name), sent)
    made["operator"] = Api(server, server.operator_keys(), sent)
    return made


@pytest.fixture(scope="module")
def cameras(people) -> dict[str, int]:
    ids = {}
    for name, (by, owner, lat, lon) in CAMERAS.items():
        body = {"Name": name, "Latitude": lat, "Longitude": lon, "Address": f"{name} street"}
        if owner:
            body["Owner"] = owner
        made = people[by]("POST", "/cameras", 201, json=body)
        assert made["Owner"] == (owner or by)
        ids[name] = made["CameraId"]
    return ids


def ask(agency: Api, *, cameras: list[int] | None = None, radius: float | None = None) -> dict:
    body = {
        "IncidentReference": "HPD-2026-11-0412",
        "Reason": "Break-in on Pine Street between 8 and 9 pm; looking for the van.",
        "WindowStart": WINDOW[0].isoformat(),
        "WindowEnd": WINDOW[1].isoformat(),
    }
    if cameras is not None:
        body["CameraIds"] = cameras
    else:
        body["Area"] = {"Latitude": 47.6101, "Longitude": -122.3400, "RadiusMeters": radius}
    return agency("POST", "/footage-requests", 201, json=body)


@pytest.fixture(scope="module")
def area(people, cameras) -> int:
    """A request by area: Alice approves both her cameras, Bob declines, Dave says nothing."""
    made = ask(people["ines"], radius=300)
    assert made["Cameras"] == {
        "Asked": 4,
        "Pending": 4,
        "Approved": 0,
        "Declined": 0,
        "Revoked": 0,
    }
    request = made["FootageRequestId"]
    approved = people["alice"].decide(request, "APPROVE")
    assert approved["DecidedCameraIds"] == [cameras["alice-porch"], cameras["alice-garage"]]
    declined = people["bob"].decide(request, "DECLINE")
    assert declined["DecidedCameraIds"] == [cameras["bob-door"]]  # not the cabin: not asked
    return request


def test_owners_register_and_list_their_own_cameras(people, cameras):
    alice, carol, dave = people["alice"], people["carol"], people["dave"]
    assert [c["Name"] for c in alice("GET", "/cameras")["Cameras"]] == [
        "alice-porch",
        "alice-garage",
    ]
    assert len(carol("GET", "/cameras")["Cameras"]) == 4  # the admin: all of maple-street's
    assert [c["CameraId"] for c in dave("GET", "/cameras")["Cameras"]] == [cameras["dave-yard"]]
    spot = {"Latitude": 47.6, "Longitude": -122.3}
    # an owner registers only their own cameras; names are unique in the organization
    wrong = alice.denied("POST", "/cameras", 400, json={"Name": "x", "Owner": "bob", **spot})
    assert "their own cameras" in wrong["message"]
    again = alice.denied("POST", "/cameras", 409, json={"Name": "alice-porch", **spot})
    assert again["type"] == "ResourceAlreadyExistsException"
    # cameras belong to owners: the agency, and a member without the owner role, are refused
    for who in ("ines", "olga"):
        denied = people[who].denied("POST", "/cameras", json={"Name": "cam", **spot})
        assert denied["rules"] == ["FOOTAGE-CONSENT"]
        assert "owner role" in denied["message"]
    people["ines"].denied("GET", "/cameras")


def test_each_owner_sees_only_their_cameras_and_the_agency_only_counts(people, cameras, area):
    alice, bob, carol, dave = (people[n] for n in ("alice", "bob", "carol", "dave"))
    mine = alice("GET", f"/footage-requests/{area}")
    assert mine["Agency"] == "harbor-police"
    assert mine["Reason"].startswith("Break-in")
    assert [(c["Name"], c["Decision"]) for c in mine["Cameras"]] == [
        ("alice-porch", "approved"),
        ("alice-garage", "approved"),
    ]
    bobs = bob("GET", f"/footage-requests/{area}")
    assert [(c["Name"], c["Decision"]) for c in bobs["Cameras"]] == [("bob-door", "declined")]
    assert [
        c["Cameras"][0]["Decision"] for c in dave("GET", "/footage-requests")["FootageRequests"]
    ] == ["pending"]
    # the community admin sees which of the organization's cameras were asked, no decisions
    admin = carol("GET", f"/footage-requests/{area}")
    assert {c["Name"] for c in admin["Cameras"]} == {"alice-porch", "alice-garage", "bob-door"}
    assert all("Decision" not in c for c in admin["Cameras"])

    agency = people["ines"]("GET", f"/footage-requests/{area}")
    assert agency["Cameras"] == {
        "Asked": 4,
        "Pending": 1,
        "Approved": 2,
        "Declined": 1,
        "Revoked": 0,
    }
    assert agency["Area"]["RadiusMeters"] == 300
    text = json.dumps(agency)
    for secret in ("alice", "bob", "dave", "carol", "maple-street", "elm-street"):
        assert secret not in text  # no camera, owner or organization named, decliners least
    assert [
        r["FootageRequestId"] for r in people["ines"]("GET", "/footage-requests")["FootageRequests"]
    ][-1] == area


def test_approved_footage_inside_the_window_reaches_the_agency(people, cameras, area):
    alice, ines = people["alice"], people["ines"]
    shared = alice.share(area, cameras["alice-porch"], INSIDE)
    video = shared["VideoId"]
    assert shared["VideoMetadata"]["DurationMillis"] == CLIP_MS
    end = datetime.fromisoformat(shared["RecordedTo"])
    assert end == INSIDE + timedelta(milliseconds=CLIP_MS)
    assert shared["AddedBy"] == f"footage-request:{area}/camera:{cameras['alice-porch']}"
    # the video is the agency's, not the owner's
    assert ines("GET", f"/videos/{video}")["FootageRequestId"] == area
    assert alice.http.get(f"/videos/{video}").status_code != 200
    listed = ines("GET", f"/footage-requests/{area}")["Footage"]
    assert [(v["VideoId"], v["CameraId"]) for v in listed] == [(video, cameras["alice-porch"])]
    assert alice("GET", f"/footage-requests/{area}")["Cameras"][0]["SharedVideos"] == 1
    # used now: the approval can no longer be revoked
    used = alice.decide(area, "REVOKE", 409, CameraIds=[cameras["alice-porch"]])
    assert "used" in used["error"]["message"]

    # the agency's video jobs read it like any of its videos
    started = ines(
        "POST",
        "/video/face-detections",
        202,
        json={"Video": {"S3Object": {"Bucket": "facegate", "Name": video}}},
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job = ines("GET", f"/video/face-detections/{started['JobId']}")
        if job["JobStatus"] != "IN_PROGRESS":
            break
        time.sleep(1)
    assert job["JobStatus"] == "SUCCEEDED", job
    assert job["VideoMetadata"]["DurationMillis"] == CLIP_MS
    assert job["Faces"]


def test_footage_outside_the_window_or_without_approval_is_refused(people, cameras, area):
    alice, bob, dave = people["alice"], people["bob"], people["dave"]
    porch = cameras["alice-porch"]
    # starts inside, ends 4.2 s after the window: refused once the header says how long it is
    late = alice.share(area, porch, WINDOW[1] - timedelta(seconds=5), 403)["error"]
    assert late["rules"] == ["FOOTAGE-CONSENT"] and "time window" in late["message"]
    early = alice.share(area, porch, WINDOW[0] - timedelta(seconds=1), 403)["error"]
    assert "time window" in early["message"]
    # a declined camera, one nobody answered for, one not in the request, someone else's
    for who, camera in (
        (bob, "bob-door"),
        (dave, "dave-yard"),
        (bob, "bob-cabin"),
        (alice, "bob-door"),
    ):
        refused = who.share(area, cameras[camera], INSIDE, 403)["error"]
        assert refused["rules"] == ["FOOTAGE-CONSENT"], (camera, refused)
    # a request that is not one's own to see
    assert alice.share(999999, porch, INSIDE, 404)["error"]["type"] == "ResourceNotFoundException"
    assert len(people["ines"]("GET", f"/footage-requests/{area}")["Footage"]) == 1


def test_only_the_cameras_owner_decides(people, area):
    for who in ("carol", "ines", "olga"):
        denied = people[who].decide(area, "APPROVE", 403)["error"]
        assert denied["rules"] == ["FOOTAGE-CONSENT"]
        assert "Only a camera's owner" in denied["message"]
    # an owner with no camera in the request does not even see it
    assert people["dave"].decide(999999, "APPROVE", 404)["error"]["type"] == (
        "ResourceNotFoundException"
    )


def test_a_revoked_approval_shares_nothing(people, cameras):
    alice, bob, ines = people["alice"], people["bob"], people["ines"]
    made = ask(ines, cameras=[cameras["alice-garage"], cameras["bob-door"]])
    request = made["FootageRequestId"]
    alice.decide(request, "APPROVE")
    revoked = alice.decide(request, "REVOKE")
    assert revoked["Cameras"][0]["Decision"] == "revoked"
    refused = alice.share(request, cameras["alice-garage"], INSIDE, 403)["error"]
    assert refused["rules"] == ["FOOTAGE-CONSENT"]
    assert "revoked" in refused["message"]
    # Bob sees his camera only, not Alice's decision; the agency sees one revoked
    assert [c["Name"] for c in bob("GET", f"/footage-requests/{request}")["Cameras"]] == [
        "bob-door"
    ]
    assert ines("GET", f"/footage-requests/{request}")["Cameras"]["Revoked"] == 1
    # nothing left to revoke, and a declined camera cannot be revoked either
    assert alice.decide(request, "REVOKE", 409)["error"]["type"] == "ConflictException"
    bob.decide(request, "DECLINE")
    assert bob.decide(request, "REVOKE", 409)["error"]["type"] == "ConflictException"


def test_an_owner_never_sees_requests_for_other_owners_cameras(people, cameras):
    made = ask(people["ines"], cameras=[cameras["dave-yard"]])
    request = made["FootageRequestId"]
    for who in ("alice", "bob", "carol"):
        listed = people[who]("GET", "/footage-requests")["FootageRequests"]
        assert request not in [r["FootageRequestId"] for r in listed]
        people[who].denied("GET", f"/footage-requests/{request}", 404)
        people[who].decide(request, "APPROVE", 404 if who != "carol" else 403)
    assert people["dave"]("GET", f"/footage-requests/{request}")["Cameras"][0]["Name"] == (
        "dave-yard"
    )


def test_a_closed_request_takes_no_more_footage_or_decisions(people, cameras):
    alice, ines = people["alice"], people["ines"]
    request = ask(ines, cameras=[cameras["alice-porch"]])["FootageRequestId"]
    alice.decide(request, "APPROVE")
    assert alice.denied("POST", f"/footage-requests/{request}/close")["rules"] == [
        "FOOTAGE-CONSENT"
    ]
    assert ines("POST", f"/footage-requests/{request}/close")["Status"] == "closed"
    refused = alice.share(request, cameras["alice-porch"], INSIDE, 403)["error"]
    assert "open" in refused["message"]
    assert alice.decide(request, "DECLINE", 409)["error"]["type"] == "ConflictException"
    ines.denied("POST", f"/footage-requests/{request}/close", 409)


def test_a_file_of_the_video_directory_is_shared_by_name(people, cameras):
    alice, ines = people["alice"], people["ines"]
    request = ask(ines, cameras=[cameras["alice-porch"]])["FootageRequestId"]
    link = {"CameraId": cameras["alice-porch"], "RecordedFrom": INSIDE.isoformat()}
    path = f"/footage-requests/{request}/footage/link"
    assert alice.denied("POST", path, json={**link, "Path": "porch-export.mp4"})["rules"] == [
        "FOOTAGE-CONSENT"
    ]  # not approved yet
    alice.decide(request, "APPROVE")
    shared = alice("POST", path, 201, json={**link, "Path": "porch-export.mp4"})
    assert shared["Source"] == "directory" and shared["Path"] == "porch-export.mp4"
    outside = alice.denied("POST", path, 400, json={**link, "Path": "../porch-export.mp4"})
    assert "leaves the video directory" in outside["message"]
    assert [v["VideoId"] for v in ines("GET", f"/footage-requests/{request}")["Footage"]] == [
        shared["VideoId"]
    ]


def test_the_footage_command_for_owners_and_agencies(server, people, cameras):
    def cli(who: str, *args: str) -> dict | list:
        done = run_cli(
            server.data_dir,
            "footage",
            *args,
            "--json",
            FACEGATE_ENDPOINT=server.url,
            FACEGATE_API_KEY=":".join(people[who].keys),
        )
        return json.loads(done.stdout)

    made = cli(
        "ines",
        "request",
        "create",
        "--incident",
        "HPD-2026-11-0415",
        "--reason",
        "Hit and run at Elm and 3rd",
        "--from",
        WINDOW[0].isoformat(),
        "--to",
        WINDOW[1].isoformat(),
        "--near",
        "47.6112,-122.3391",
        "--radius",
        "50",
    )
    request = made["FootageRequestId"]
    assert made["Cameras"]["Asked"] == 1
    assert [c["Name"] for c in cli("dave", "cameras", "list")] == ["dave-yard"]
    assert request in [r["FootageRequestId"] for r in cli("dave", "request", "list")]
    assert cli("dave", "decide", str(request), "approve")["Decision"] == "approved"
    shared = cli(
        "dave",
        "share",
        str(CLIP),
        "--request",
        str(request),
        "--camera",
        str(cameras["dave-yard"]),
        "--recorded-from",
        INSIDE.isoformat(),
    )
    shown = cli("ines", "request", "show", str(request))
    assert [v["VideoId"] for v in shown["Footage"]] == [shared["VideoId"]]
    refused = run_cli(
        server.data_dir,
        "footage",
        "decide",
        str(request),
        "approve",
        "--endpoint",
        server.url,
        "--key",
        ":".join(people["carol"].keys),
        check=False,
    )
    assert refused.returncode == 3 and "FOOTAGE-CONSENT" in refused.stderr


def test_every_step_left_one_audit_record(people):
    records, times = {}, Counter()
    after = 0
    while True:
        page = people["operator"]("GET", "/audit/records", params={"after": after, "limit": 1000})
        for r in page["Records"]:
            records[r["RequestId"]] = r
            times[r["RequestId"]] += 1
        if "After" not in page:
            break
        after = page["After"]
    sent = list(people["operator"].sent)
    assert len(sent) > 60
    for request_id, operation in sent:
        assert times[request_id] == 1 and records[request_id]["Operation"] == operation
    # shared, denied by a rule, and failed (a path that leaves the video directory)
    decisions = {records[rid]["Decision"] for rid, op in sent if op == "ShareFootage"}
    assert decisions == {"allow", "deny", "error"}
    denials = [records[rid] for rid, op in sent if records[rid]["Decision"] == "deny"]
    assert all(
        any(p.startswith("FOOTAGE-CONSENT") for p in json.loads(r["Policies"])) for r in denials
    )
    # an owner's decision is recorded in the owner's organization, with what was decided
    decided = [r for r in records.values() if r["Operation"] == "DecideFootageRequest"]
    approved = [r for r in decided if r["Decision"] == "allow"]  # Dave's came from the CLI
    assert {r["Organization"] for r in approved} == {"maple-street", "elm-street"}
    assert {json.loads(r["Detail"])["decision"] for r in approved} == {
        "approve",
        "decline",
        "revoke",
    }
    # the agency's auditor reads the agency's records: requests, not the owners' decisions
    seen = people["ahmed"]("GET", "/audit/records", params={"limit": 1000})["Records"]
    allowed = {r["Operation"] for r in seen if r["Decision"] == "allow"}
    assert {"RequestFootage", "GetFootageRequest", "CloseFootageRequest"} <= allowed
    assert not allowed & {"DecideFootageRequest", "ShareFootage"}  # only its own failed tries

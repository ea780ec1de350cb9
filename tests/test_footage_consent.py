"""Footage sharing in-process, without a server: :class:`facegate.footage.consent.Footage`
over a real database (SQLite and PostgreSQL). Cameras, requests, the owners' decisions
following TRANSITIONS, what each side sees, and the facts a share is decided on.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from facegate.errors import (
    ConflictException,
    InvalidParameterException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from facegate.footage.consent import Footage
from facegate.footage.decisions import TRANSITIONS
from facegate.footage.geometry import Area, distance_m
from facegate.footage.tables import CONSENT_STATUSES, FootageConsent
from facegate.gallery.tables import Organization
from facegate.policy.registry import Principal
from facegate.policy.tables import Member
from tests.in_process import DATABASES, Database, caller

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
WINDOW = (NOW - timedelta(hours=16), NOW - timedelta(hours=15))
PORCH = (47.6101, -122.3400)
# How a camera comes to be in each state: the decisions its owner takes from "pending".
PATHS = {
    "pending": (),
    "approved": ("approve",),
    "declined": ("decline",),
    "revoked": ("approve", "revoke"),
}


class World(Database):
    """Footage over a fresh database: a community (maple-street) with two camera owners, an
    admin and an analyst; another community's owner (erin); an agency's analyst (ines)."""

    def __init__(self, request, tmp_path) -> None:
        super().__init__(request, tmp_path)
        self.footage = Footage(self.sessions, lambda: NOW)
        maple = ("maple-street", "community")
        self.alice = self.member(maple, "alice", "owner")
        self.bob = self.member(maple, "bob", "owner")
        self.carol = self.member(maple, "carol", "admin")
        self.dave = self.member(maple, "dave", "analyst")
        self.erin = self.member(("oak-lane", "community"), "erin", "owner")
        self.ines = self.member(("city-police", "law_enforcement"), "ines", "analyst")

    def member(self, org: tuple[str, str], name: str, *roles: str) -> Principal:
        """A member of ``org`` (name, sector), the organization made when first named."""
        org_name, sector = org
        with self.sessions() as s:
            org_id = s.scalar(select(Organization.id).where(Organization.name == org_name))
        if org_id is None:
            org_id = self.organization(org_name, sector)
        with self.sessions.begin() as s:
            row = Member(organization_id=org_id, name=name, roles=json.dumps(roles), created_at=NOW)
            s.add(row)
            s.flush()
            member_id = row.id
        return caller((org_id, org_name, sector), f"member:{member_id}", name, *roles)

    def count(self, operation: str) -> int:
        """How many records of ``operation`` the log holds."""
        return [op for op, _decision, _resource in self.records()].count(operation)

    def camera(self, who: Principal, name: str, at=PORCH, owner: str | None = None) -> int:
        made = self.footage.register_camera(
            who,
            name=name,
            latitude=at[0],
            longitude=at[1],
            owner=owner,
            record=self.recorder("RegisterCamera", who),
        )
        return made["CameraId"]

    def ask(self, cameras: list[int] | None = None, area: Area | None = None) -> int:
        made = self.footage.create_request(
            self.ines,
            incident="HPD-2026-11-0412",
            reason="Break-in on Pine Street; looking for the van.",
            window_start=WINDOW[0],
            window_end=WINDOW[1],
            camera_ids=cameras,
            area=area,
            record=self.recorder("RequestFootage", self.ines),
        )
        return made["FootageRequestId"]

    def decide(self, who: Principal, request: int, decision: str, cameras=None) -> dict:
        record = self.recorder("DecideFootageRequest", who)
        return self.footage.decide(who, request, decision, cameras, record=record)

    def consent(self, request: int, camera: int) -> str:
        with self.sessions() as s:
            row = s.get(FootageConsent, (request, camera))
            assert row is not None
            return row.status


@pytest.fixture(params=DATABASES)
def world(request, tmp_path):
    made = World(request, tmp_path)
    yield made
    made.close()


def test_owners_register_their_cameras_and_each_sees_their_own(world):
    porch = world.camera(world.alice, "alice-porch")
    door = world.camera(world.carol, "bob-door", owner="bob")  # an admin, for an owner
    assert world.count("RegisterCamera") == 2
    with pytest.raises(InvalidParameterException, match="register their own cameras"):
        world.camera(world.alice, "for-bob", owner="bob")
    with pytest.raises(InvalidParameterException, match="does not have the owner role"):
        world.camera(world.dave, "dave-yard")
    with pytest.raises(ResourceAlreadyExistsException):
        world.camera(world.bob, "alice-porch")
    with pytest.raises(ResourceNotFoundException):
        world.camera(world.carol, "nobody's", owner="zoe")
    with pytest.raises(InvalidParameterException, match="Latitude must be from -90 to 90"):
        world.camera(world.bob, "off-the-map", at=(91.0, 0.0))
    assert world.count("RegisterCamera") == 2  # a refusal changes nothing and records nothing
    assert [c["CameraId"] for c in world.footage.cameras(world.alice)] == [porch]
    assert [c["Owner"] for c in world.footage.cameras(world.carol)] == ["alice", "bob"]
    assert [c["CameraId"] for c in world.footage.cameras(world.bob)] == [door]
    assert world.footage.cameras(world.ines) == []
    assert world.footage.cameras(world.erin) == []  # another community's owner


def test_a_request_asks_for_a_past_window_from_named_cameras_or_an_area(world):
    porch = world.camera(world.alice, "alice-porch")
    cabin_at = (47.6190, -122.3400)  # about 1 km north
    assert 950 < distance_m(*PORCH, *cabin_at) < 1050
    cabin = world.camera(world.bob, "bob-cabin", at=cabin_at)
    by_area = world.ask(area=Area(*PORCH, 300))
    seen = world.footage.request(world.ines, by_area)
    assert seen["Cameras"] == {"Asked": 1, "Pending": 1, "Approved": 0, "Declined": 0, "Revoked": 0}
    assert seen["Area"] == {"Latitude": PORCH[0], "Longitude": PORCH[1], "RadiusMeters": 300}
    assert world.consent(by_area, porch) == "pending"
    named = world.ask(cameras=[cabin, porch, cabin])
    assert world.footage.request(world.ines, named)["Cameras"]["Asked"] == 2
    assert world.count("RequestFootage") == 2

    def refused(**changes) -> str:
        asked = {
            "incident": "HPD-1",
            "reason": "why",
            "window_start": WINDOW[0],
            "window_end": WINDOW[1],
            "camera_ids": [porch],
            **changes,
        }
        record = world.recorder("RequestFootage", world.ines)
        with pytest.raises((InvalidParameterException, ResourceNotFoundException)) as caught:
            world.footage.create_request(world.ines, **asked, record=record)
        return caught.value.message

    assert "in the future" in refused(window_end=NOW + timedelta(minutes=1))
    assert "at most 24 hours" in refused(window_start=WINDOW[1] - timedelta(hours=25))
    assert "later than WindowStart" in refused(window_end=WINDOW[0])
    assert "not both" in refused(area=Area(*PORCH, 300))
    assert "not both" in refused(camera_ids=None)
    assert "RadiusMeters must be from 50 to 5000" in refused(camera_ids=None, area=Area(*PORCH, 10))
    assert "No registered camera lies within" in refused(camera_ids=None, area=Area(0.0, 0.0, 500))
    assert refused(camera_ids=[999_999]) == "No camera 999999."
    assert "Name 1 to 100 CameraIds" in refused(camera_ids=list(range(1, 102)))
    assert "IncidentReference is required" in refused(incident="  ")
    assert world.count("RequestFootage") == 2


def test_an_owners_decisions_follow_the_transitions(world):
    """From every state, every decision: the new state TRANSITIONS names, or a refusal that
    says why and changes nothing."""
    assert set(PATHS) == set(CONSENT_STATUSES)  # every state is tried
    porch = world.camera(world.alice, "alice-porch")
    recorded = 0
    for state, path in PATHS.items():
        for decision, (before, after) in TRANSITIONS.items():
            request = world.ask(cameras=[porch])
            for step in path:
                world.decide(world.alice, request, step)
            recorded += len(path)
            assert world.consent(request, porch) == state
            if state in before:
                out = world.decide(world.alice, request, decision.upper(), [porch])
                recorded += 1
                assert (out["Decision"], out["DecidedCameraIds"]) == (after, [porch])
                assert out["Cameras"][0]["Decision"] == after
                assert world.consent(request, porch) == after
                continue
            with pytest.raises(ConflictException) as refused:
                world.decide(world.alice, request, decision, [porch])
            assert refused.value.message == f"Camera {porch} is {state}; it cannot be {decision}d."
            with pytest.raises(ConflictException, match="None of your cameras in this request"):
                world.decide(world.alice, request, decision)  # all of mine: none it applies to
            assert world.consent(request, porch) == state
    assert world.count("DecideFootageRequest") == recorded
    legal = {(s, d) for s in PATHS for d, (before, _after) in TRANSITIONS.items() if s in before}
    assert legal == {
        ("pending", "approve"),
        ("declined", "approve"),
        ("revoked", "approve"),
        ("pending", "decline"),
        ("approved", "revoke"),
    }


def test_decisions_refused_outside_the_owners_own_open_requests(world):
    porch = world.camera(world.alice, "alice-porch")
    door = world.camera(world.bob, "bob-door")
    request = world.ask(cameras=[porch, door])
    with pytest.raises(InvalidParameterException, match="APPROVE, DECLINE or REVOKE"):
        world.decide(world.alice, request, "maybe")
    with pytest.raises(ResourceNotFoundException, match="is not yours in this request"):
        world.decide(world.alice, request, "approve", [door])
    for outsider in (world.erin, world.ines, world.carol):  # not an owner of a camera in it
        with pytest.raises(ResourceNotFoundException, match="for your cameras"):
            world.decide(outsider, request, "approve")
    approved = world.decide(world.alice, request, "approve")  # all of hers, not Bob's
    assert approved["DecidedCameraIds"] == [porch]
    assert world.consent(request, door) == "pending"

    with world.sessions.begin() as s:  # a video is shared: the approval is used
        world.footage.claim(s, request, porch)
    with pytest.raises(ConflictException, match="approval is used"):
        world.decide(world.alice, request, "revoke", [porch])
    with pytest.raises(ConflictException, match="cannot be revoked"):
        world.decide(world.alice, request, "revoke")
    assert world.consent(request, porch) == "approved"

    closed = world.footage.close(world.ines, request, world.recorder("Close", world.ines))
    assert closed["Status"] == "closed"
    with pytest.raises(ConflictException, match="is closed"):
        world.decide(world.bob, request, "decline")
    with pytest.raises(ConflictException, match="already closed"):
        world.footage.close(world.ines, request, world.recorder("Close", world.ines))
    assert world.count("DecideFootageRequest") == 1 and world.count("Close") == 1


def test_a_decision_and_its_record_commit_together(world):
    porch = world.camera(world.alice, "alice-porch")
    request = world.ask(cameras=[porch])

    def failing(_session, _answer) -> None:
        raise RuntimeError("the audit log is away")

    with pytest.raises(RuntimeError):
        world.footage.decide(world.alice, request, "approve", record=failing)
    assert world.consent(request, porch) == "pending"


def test_each_side_sees_its_own_part_of_a_request(world):
    porch = world.camera(world.alice, "alice-porch")
    door = world.camera(world.bob, "bob-door")
    request = world.ask(cameras=[porch, door])
    world.decide(world.alice, request, "approve")
    world.decide(world.bob, request, "decline")
    agency = world.footage.request(world.ines, request)
    assert agency["Cameras"] == {
        "Asked": 2,
        "Pending": 0,
        "Approved": 1,
        "Declined": 1,
        "Revoked": 0,
    }
    assert agency["Footage"] == []
    assert "alice" not in json.dumps(agency) and "bob" not in json.dumps(agency)
    alice = world.footage.request(world.alice, request)
    assert alice["Agency"] == "city-police"
    assert [(c["CameraId"], c["Decision"]) for c in alice["Cameras"]] == [(porch, "approved")]
    admin = world.footage.request(world.carol, request)
    assert [c["CameraId"] for c in admin["Cameras"]] == [porch, door]
    assert all("Decision" not in c for c in admin["Cameras"])
    for outsider in (world.erin, world.dave):
        with pytest.raises(ResourceNotFoundException):
            world.footage.request(outsider, request)
    assert [r["FootageRequestId"] for r in world.footage.requests(world.bob)] == [request]
    assert world.footage.requests(world.erin) == []


def test_the_facts_a_share_is_decided_on(world):
    porch = world.camera(world.alice, "alice-porch")
    door = world.camera(world.bob, "bob-door")
    request = world.ask(cameras=[porch, door])
    world.decide(world.alice, request, "approve")
    start = WINDOW[0] + timedelta(minutes=5)
    facts, agency = world.footage.facts(world.alice, request, porch, start)
    assert agency == world.ines.organization_id
    assert (facts.owner, facts.consent, facts.request_open) == (True, "approved", True)
    assert (facts.window_start, facts.window_end) == WINDOW
    assert facts.recorded_from == facts.recorded_to == start
    # another owner's camera: neither owned nor its decision read
    facts, _ = world.footage.facts(world.alice, request, door, start)
    assert (facts.owner, facts.consent) == (False, "none")
    # a request the caller has no camera in is not theirs to see
    facts, agency = world.footage.facts(world.erin, request, porch, start)
    assert agency is None and not facts.owner and not facts.request_open
    world.footage.close(world.ines, request, world.recorder("Close", world.ines))
    with world.sessions.begin() as s:  # in the share's own transaction, rows locked
        facts, _ = world.footage.facts(
            world.alice, request, porch, start, start + timedelta(minutes=1), session=s
        )
    assert not facts.request_open and facts.recorded_to == start + timedelta(minutes=1)

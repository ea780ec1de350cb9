"""Reviews in time: deadlines, expiry and deletion of what a review holds, with a moving clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet

from facegate.auth.secrets import SecretBox
from facegate.db.engine import open_database
from facegate.errors import ConflictException, InvalidParameterException
from facegate.policy.registry import Principal
from facegate.policy.reviews import Reviews

START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
RESULT = {
    "SearchedFaceBoundingBox": {"Left": 0.1, "Top": 0.1, "Width": 0.5, "Height": 0.5},
    "FaceMatches": [
        {"Similarity": 99.6, "Face": {"FaceId": "f-1", "ExternalImageId": "a"}},
        {"Similarity": 99.2, "Face": {"FaceId": "f-2", "ExternalImageId": "b"}},
    ],
}


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def reviews(tmp_path):
    clock = Clock()
    sessions = open_database(f"sqlite:///{tmp_path}/r.db")
    from facegate.audit.log import AuditLog, Entry, Recorder
    from facegate.policy.accounts import Accounts

    box = SecretBox(Fernet.generate_key())
    entry = Entry("Admin.CreateOrganization", "allow", member="test")
    created = Recorder(AuditLog(sessions), entry)
    Accounts(sessions, box).create_organization("city", sector="government", record=created)
    store = Reviews(
        sessions, box, ttl=timedelta(hours=72), retention=timedelta(days=30), clock=clock
    )
    return store, clock


def recorded(store: Reviews, operation: str):
    """A real record for a change the test makes (every change takes one)."""
    from facegate.audit.log import AuditLog, Entry, Recorder

    return Recorder(AuditLog(store.sessions), Entry(operation, "allow", member="test"))


def person(holder: str, *roles: str) -> Principal:
    return Principal(
        access_key_id=f"K{holder}",
        organization_id=1,
        organization="city",
        sector="government",
        operator=False,
        holder=holder,
        member=holder,
        roles=roles,
    )


ALICE, BOB = person("member:1", "analyst"), person("member:2", "reviewer")


def open_one(store: Reviews) -> str:
    return store.open(
        ALICE,
        operation="SearchFacesByImage",
        collection="gallery",
        case_reference="CASE-1",
        requested_threshold=80,
        effective_threshold=99,
        result=RESULT,
        probe_crop=b"\xff\xd8probe",
    )


def test_a_review_nobody_decides_expires_and_its_material_is_deleted(reviews):
    store, clock = reviews
    review_id = open_one(store)
    assert store.result(ALICE, review_id)["Status"] == "open"
    clock.now = START + timedelta(hours=71, minutes=59)
    assert [r["ReviewId"] for r in store.listing(BOB)] == [review_id]
    clock.now = START + timedelta(hours=72)
    assert store.expire(recorded(store, "System.ExpireReviews")) == {"expired": 1, "purged": 0}
    assert store.listing(BOB) == []
    result = store.result(ALICE, review_id)
    assert result["Status"] == "expired" and "Result" not in result
    with pytest.raises(ConflictException):
        store.decide(
            BOB, review_id, "confirm", ["f-1"], "too late", recorded(store, "DecideReview")
        )
    assert store.show(BOB, review_id)["Probe"]["Crop"]  # kept until retention ends
    clock.now = START + timedelta(hours=72, days=30)
    assert store.expire(recorded(store, "System.ExpireReviews")) == {"expired": 0, "purged": 1}
    shown = store.show(BOB, review_id)
    assert shown["Candidates"] == [] and "deleted" in shown["Notice"]


def test_a_confirmed_release_is_deleted_after_retention(reviews):
    store, clock = reviews
    review_id = open_one(store)
    with pytest.raises(InvalidParameterException):
        store.decide(
            BOB, review_id, "confirm", ["f-9"], "not offered", recorded(store, "DecideReview")
        )
    with pytest.raises(InvalidParameterException):
        store.decide(BOB, review_id, "confirm", [], "names nobody", recorded(store, "DecideReview"))
    decided = store.decide(
        BOB, review_id, "confirm", ["f-2"], "the ears match", recorded(store, "DecideReview")
    )
    assert decided["Status"] == "confirmed"
    released = store.result(ALICE, review_id)
    assert [m["Face"]["FaceId"] for m in released["Result"]["FaceMatches"]] == ["f-2"]
    assert released["Label"] == "INVESTIGATIVE_LEAD"
    clock.now = START + timedelta(days=31)
    store.expire(recorded(store, "System.ExpireReviews"))
    gone = store.result(ALICE, review_id)
    assert gone["Status"] == "confirmed" and "Result" not in gone and "deleted" in gone["Notice"]

"""The gallery in process, no server: Gallery over a real database (SQLite and PostgreSQL),
real descriptors of real photos from the real engine, and the audit record of each change
written inside the change's transaction (a failing record leaves nothing stored)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from facegate.audit.log import AuditLog, Entry, Record, Recorder
from facegate.audit.tables import AuditRecord
from facegate.auth.secrets import SecretBox
from facegate.db.engine import open_database
from facegate.errors import ResourceNotFoundException
from facegate.gallery.faces import Enrollment
from facegate.gallery.indexes import IndexRegistry
from facegate.gallery.store import Gallery
from facegate.gallery.tables import Collection, Face, User
from facegate.gallery.tokens import TokenSigner
from facegate.policy.accounts import Accounts
from tests.conftest import london_front

pytestmark = pytest.mark.models

ALICE, BOB = "001", "004"  # two London subjects: a neutral photo indexed, a smiling one probed


class RecordFailed(Exception):
    """What a failing audit log raises in these tests."""


@dataclass
class Photos:
    """The engine's IndexFaces selection of each subject's neutral photo, and a probe of
    each subject's smiling photo (another photo of the same person)."""

    selected: dict[str, dict[str, Any]]
    probes: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def photos(engine) -> Photos:
    return Photos(
        {
            s: engine.index_candidates(london_front(s), max_faces=1, quality_filter="AUTO")
            for s in (ALICE, BOB)
        },
        {s: engine.probe(london_front(s, smiling=True)) for s in (ALICE, BOB)},
    )


@dataclass
class Setup:
    gallery: Gallery
    audit: AuditLog
    org: int
    records: list[dict[str, Any]] = field(default_factory=list)  # what each record was given

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.gallery.sessions

    def record(
        self,
        operation: str,
        *,
        fail: bool = False,
        inside: Callable[[Session], None] | None = None,
    ) -> Record:
        """A real Recorder for ``operation``, checked: it must be called in the change's open
        transaction (``inside(s)`` asserts what the change left there), and with ``fail`` the
        audit log refuses it."""
        recorder = Recorder(self.audit, Entry(operation, "allow", member="test"))

        def record(s: Session, answer: dict[str, Any]) -> None:
            assert s.in_transaction()
            if inside is not None:
                inside(s)
            self.records.append(answer)
            if fail:
                raise RecordFailed(operation)
            recorder(s, answer)

        return record

    def audit_records(self, operation: str) -> int:
        with self.sessions() as s:
            query = select(func.count()).where(AuditRecord.operation == operation)
            return s.scalar(query) or 0

    def faces(self, collection: str) -> list[Face]:
        with self.sessions() as s:
            return list(
                s.scalars(
                    select(Face)
                    .join(Collection, Face.collection_id == Collection.id)
                    .where(Collection.name == collection)
                    .order_by(Face.row_id)
                )
            )

    def index(
        self, collection: str, subject: str, photos: Photos, record: Record | None = None
    ) -> dict[str, Any]:
        selected = photos.selected[subject]
        enrollment = Enrollment(
            image_sha256=f"sha256-of-{subject}",
            external_image_id=subject,
            indexed=selected["indexed"],
            unindexed=selected["unindexed"],
            legal_basis="consent",
        )
        return self.gallery.index_faces(
            self.org, collection, enrollment, record or self.record("IndexFaces")
        )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def setup(request, tmp_path_factory, engine) -> Setup:
    directory: Path = tmp_path_factory.mktemp("gallery")
    if request.param == "sqlite":
        url = f"sqlite:///{directory}/gallery.db"
    else:
        url = request.getfixturevalue("postgres_databases")()
    sessions = open_database(url)
    audit = AuditLog(sessions)
    box = SecretBox(Fernet.generate_key())
    org = Accounts(sessions, box).create_organization(
        "gallery-test", record=Recorder(audit, Entry("Admin.CreateOrganization", "allow"))
    )
    gallery = Gallery(
        sessions,
        IndexRegistry(sessions, directory / "index", approximate_from=100_000),
        TokenSigner(b"k" * 32),
        engine.calibration,
        engine.chain.version,
        box,
    )
    yield Setup(gallery, audit, org)
    audit.close()
    sessions.kw["bind"].dispose()


def _collection_with_both(setup: Setup, photos: Photos, name: str) -> dict[str, str]:
    """A new collection holding ALICE's and BOB's faces: subject -> FaceId."""
    setup.gallery.create_collection(setup.org, name, {}, record=setup.record("CreateCollection"))
    faces = {}
    for subject in (ALICE, BOB):
        answer = setup.index(name, subject, photos)
        assert len(answer["FaceRecords"]) == 1, subject
        faces[subject] = answer["FaceRecords"][0]["Face"]["FaceId"]
    return faces


def test_indexed_faces_are_found_by_another_photo_of_the_same_person(setup, photos):
    before = setup.audit_records("IndexFaces")
    faces = _collection_with_both(setup, photos, "found")
    assert setup.audit_records("IndexFaces") == before + 2  # one record per change
    stored = setup.faces("found")
    assert [(f.face_id, f.external_image_id, f.legal_basis) for f in stored] == [
        (faces[ALICE], ALICE, "consent"),
        (faces[BOB], BOB, "consent"),
    ]
    assert setup.gallery.describe_collection(setup.org, "found")["FaceCount"] == 2

    for subject, other in ((ALICE, BOB), (BOB, ALICE)):
        answer = setup.gallery.search_faces_by_vector(
            setup.org, "found", photos.probes[subject], max_faces=2, threshold=0.0
        )
        matches = answer["FaceMatches"]
        assert [m["Face"]["FaceId"] for m in matches] == [faces[subject], faces[other]]
        assert matches[0]["Similarity"] > matches[1]["Similarity"]
        assert matches[0]["Face"]["ExternalImageId"] == subject
    # the other person is no match at a real threshold; a face never matches itself
    strict = setup.gallery.search_faces(setup.org, "found", faces[ALICE], 10, 80.0)
    assert strict["FaceMatches"] == []

    # the same image and label again: the first answer, nothing stored, nothing recorded here
    again = setup.index("found", ALICE, photos, record=setup.record("Again", fail=True))
    assert [r["Face"]["FaceId"] for r in again["FaceRecords"]] == [faces[ALICE]]
    assert len(setup.faces("found")) == 2


def test_a_user_holds_the_faces_of_its_person_only(setup, photos):
    faces = _collection_with_both(setup, photos, "users")
    g, org = setup.gallery, setup.org
    g.create_user(org, "users", "alice", setup.record("CreateUser"))
    associated = g.associate_faces(
        org, "users", "alice", [faces[ALICE]], 75.0, setup.record("AssociateFaces")
    )
    assert associated == {
        "AssociatedFaces": [{"FaceId": faces[ALICE]}],
        "UnsuccessfulFaceAssociations": [],
        "UserStatus": "ACTIVE",
    }
    # BOB's face is another person's: too unlike ALICE's to join her user
    refused = g.associate_faces(
        org, "users", "alice", [faces[BOB], "no-such-face"], 75.0, setup.record("AssociateFaces")
    )
    assert refused["AssociatedFaces"] == []
    assert [(u["FaceId"], u["Reasons"]) for u in refused["UnsuccessfulFaceAssociations"]] == [
        (faces[BOB], ["LOW_MATCH_CONFIDENCE"]),
        ("no-such-face", ["FACE_NOT_FOUND"]),
    ]
    assert refused["UnsuccessfulFaceAssociations"][0]["Confidence"] < 75.0

    listed = g.list_faces(org, "users", 10, None, user_id="alice")["Faces"]
    assert [(f["FaceId"], f["UserId"]) for f in listed] == [(faces[ALICE], "alice")]
    found = g.search_users_by_vector(org, "users", photos.probes[ALICE], 5, 80.0)
    assert found["UserMatches"][0]["User"] == {"UserId": "alice", "UserStatus": "ACTIVE"}
    assert g.search_users_by_vector(org, "users", photos.probes[BOB], 5, 80.0)["UserMatches"] == []
    # a face of a user is not deleted
    kept = g.delete_faces(org, "users", [faces[ALICE]], setup.record("DeleteFaces"))
    assert kept["DeletedFaces"] == []
    assert kept["UnsuccessfulFaceDeletions"][0]["Reasons"] == ["ASSOCIATED_TO_AN_EXISTING_USER"]

    done = g.disassociate_faces(
        org, "users", "alice", [faces[ALICE]], setup.record("DisassociateFaces")
    )
    assert done["DisassociatedFaces"] == [{"FaceId": faces[ALICE]}]
    assert done["UserStatus"] == "CREATED"


def test_deleted_faces_leave_sql_and_the_faiss_projection(setup, photos):
    faces = _collection_with_both(setup, photos, "deleted")
    g, org = setup.gallery, setup.org
    (alice_row, bob_row) = [f.row_id for f in setup.faces("deleted")]
    collection_id = setup.faces("deleted")[0].collection_id
    index = g.indexes.get(collection_id)
    assert len(index) == 2

    answer = g.delete_faces(org, "deleted", [faces[ALICE]], setup.record("DeleteFaces"))
    assert answer == {"DeletedFaces": [faces[ALICE]], "UnsuccessfulFaceDeletions": []}
    assert [f.face_id for f in setup.faces("deleted")] == [faces[BOB]]
    index = g.indexes.get(collection_id)
    assert len(index) == 1
    ids, _ = index.search(np.asarray(photos.probes[ALICE]["vector"], dtype=np.float32), 5)
    assert ids.tolist() == [bob_row] and alice_row not in ids
    matches = g.search_faces_by_vector(org, "deleted", photos.probes[ALICE], 5, 0.0)
    assert [m["Face"]["FaceId"] for m in matches["FaceMatches"]] == [faces[BOB]]

    # deleting what is gone changes nothing, and records nothing here
    again = g.delete_faces(org, "deleted", [faces[ALICE]], setup.record("Gone", fail=True))
    assert again["UnsuccessfulFaceDeletions"] == [
        {"FaceId": faces[ALICE], "Reasons": ["FACE_NOT_FOUND"]}
    ]


def test_the_record_is_written_inside_the_transaction_of_its_change(setup, photos):
    g, org = setup.gallery, setup.org
    seen: list[str] = []

    def collection_pending(s: Session) -> None:
        """The new collection is in the change's transaction, and not committed yet."""
        mine = select(Collection.id).where(Collection.name == "inside")
        assert s.scalar(mine) is not None
        with setup.sessions() as other:
            assert other.scalar(mine) is None
        seen.append("collection")

    g.create_collection(org, "inside", {}, record=setup.record("C", inside=collection_pending))

    def faces_pending(s: Session) -> None:
        """The new face is in the change's transaction, and not committed yet."""
        mine = (
            select(func.count())
            .select_from(Face)
            .join(Collection, Face.collection_id == Collection.id)
            .where(Collection.name == "inside")
        )
        assert s.scalar(mine) == 1
        with setup.sessions() as other:
            assert other.scalar(mine) == 0
        seen.append("faces")

    setup.index("inside", ALICE, photos, record=setup.record("I", inside=faces_pending))
    assert seen == ["collection", "faces"]
    # both records committed with their changes, in the audit log's chain
    with setup.sessions() as s:
        operations = s.scalars(select(AuditRecord.operation).order_by(AuditRecord.seq)).all()
    assert operations[-2:] == ["C", "I"]


def test_a_failing_record_leaves_nothing_stored(setup, photos):
    g, org = setup.gallery, setup.org
    with pytest.raises(RecordFailed):
        g.create_collection(org, "refused", {}, record=setup.record("C", fail=True))
    with pytest.raises(ResourceNotFoundException):
        g.describe_collection(org, "refused")

    faces = _collection_with_both(setup, photos, "kept")
    collection_id = setup.faces("kept")[0].collection_id
    audited = _all_records(setup)

    with pytest.raises(RecordFailed):
        g.delete_faces(org, "kept", [faces[ALICE]], setup.record("D", fail=True))
    assert [f.face_id for f in setup.faces("kept")] == [faces[ALICE], faces[BOB]]
    assert len(g.indexes.get(collection_id)) == 2  # the index follows only a committed change

    with pytest.raises(RecordFailed):
        g.create_user(org, "kept", "alice", setup.record("U", fail=True))
    assert g.list_users(org, "kept", 10, None)["Users"] == []

    g.create_user(org, "kept", "bob", setup.record("CreateUser"))
    audited += 1
    with pytest.raises(RecordFailed):
        g.associate_faces(org, "kept", "bob", [faces[BOB]], 75.0, setup.record("A", fail=True))
    with setup.sessions() as s:
        assert s.scalar(select(Face.user_id).where(Face.face_id == faces[BOB])) is None
    with pytest.raises(RecordFailed):
        g.delete_user(org, "kept", "bob", setup.record("DU", fail=True))
    with setup.sessions() as s:
        assert s.scalar(select(func.count()).select_from(User).where(User.name == "bob")) == 1

    with pytest.raises(RecordFailed):
        g.delete_collection(org, "kept", setup.record("DC", fail=True))
    assert g.describe_collection(org, "kept")["FaceCount"] == 2
    assert len(g.indexes.get(collection_id)) == 2

    # a refused IndexFaces stores no face and leaves the FAISS projection as it was
    g.create_collection(org, "empty", {}, record=setup.record("CreateCollection"))
    audited += 1
    with pytest.raises(RecordFailed):
        setup.index("empty", ALICE, photos, record=setup.record("I", fail=True))
    assert setup.faces("empty") == []
    with setup.sessions() as s:
        empty_id = s.scalar(select(Collection.id).where(Collection.name == "empty"))
    assert empty_id is not None and len(g.indexes.get(empty_id)) == 0
    # and no refused change left a record
    assert _all_records(setup) == audited


def _all_records(setup: Setup) -> int:
    with setup.sessions() as s:
        return s.scalar(select(func.count()).select_from(AuditRecord)) or 0


def test_the_answers_carry_no_vector(setup, photos):
    """What a record is given is the answer a client gets: never a descriptor."""
    _collection_with_both(setup, photos, "answers")
    assert setup.records
    text = json.dumps(setup.records, default=str)
    assert "vector" not in text and "crop" not in text

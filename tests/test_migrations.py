"""Upgrading a database that holds data: what a migration must do to rows already stored."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from facegate.audit.log import AuditLog, Entry
from facegate.audit.verify import verify_database
from facegate.db.engine import alembic_config, make_engine, migrate, open_database
from facegate.gallery.tables import Collection, Face, Organization
from facegate.policy.tables import UseCase

T0 = datetime(2024, 1, 10, 9, 30, tzinfo=UTC)
YEAR = timedelta(days=365.25)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/old.db"
    return request.getfixturevalue("postgres_databases")()


def _face(collection: Collection, **fields) -> Face:
    return Face(
        face_id=str(uuid.uuid4()),
        collection_id=collection.id,
        image_id=str(uuid.uuid4()),
        image_sha256="0" * 64,
        box_left=0.1,
        box_top=0.1,
        box_width=0.5,
        box_height=0.5,
        confidence=99.9,
        model_version="dlib-test",
        vector=b"\0" * 512,
        detail="{}",
        created_at=T0,
        **fields,
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def test_faces_stored_without_a_deadline_get_one_when_the_database_is_upgraded(url):
    """Migration 0009: faces from before deadlines existed get the retention rule's deadline
    (retention never purged them); a face that had one keeps it."""
    engine = make_engine(url)
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0008")
    with Session(engine) as s, s.begin():
        org = Organization(name="archive", sector="nonprofit", created_at=T0)
        s.add(org)
        s.flush()
        collection = Collection(
            organization_id=org.id, name="old", face_model_version="dlib-test", created_at=T0
        )
        ending = UseCase(
            organization_id=org.id,
            purpose="media_archive",
            description="d",
            legal_basis="b",
            operations="[]",
            expires_at=T0 + YEAR,
            status="approved",
            registered_at=T0,
            registered_by="test",
            retention_years=2.0,
        )
        s.add_all([collection, ending])
        s.flush()
        faces = {
            "never used": _face(collection),
            "matched later": _face(collection, last_interaction=T0 + timedelta(days=100)),
            "use case ends first": _face(collection, use_case_id=ending.id),
            "had one": _face(collection, delete_by=T0 + timedelta(days=7)),
        }
        s.add_all(faces.values())
        s.flush()
        ids = {name: face.face_id for name, face in faces.items()}
    migrate(engine)
    with Session(engine) as s:
        found = dict(s.execute(select(Face.face_id, Face.delete_by)).all())
    engine.dispose()
    deadlines = {name: _aware(found[face_id]) for name, face_id in ids.items()}
    assert deadlines == {
        "never used": T0 + 3 * YEAR,
        "matched later": T0 + timedelta(days=100) + 3 * YEAR,
        "use case ends first": T0 + YEAR,
        "had one": T0 + timedelta(days=7),
    }


def test_the_audit_head_learns_its_previous_hash_and_the_chain_goes_on(url):
    """Migration 0008 (the head keeps the hash before the last record's, which PostgreSQL's
    one-statement append needs): an upgraded log's head matches its last record, and records
    appended after the upgrade, alone and inside a transaction, keep the chain verifying."""
    sessions = open_database(url)
    engine = sessions.kw["bind"]
    audit = AuditLog(sessions)
    for n in range(3):
        audit.append(Entry(operation="DetectFaces", decision="allow", request_id=f"before-{n}"))
    audit.close()
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0007")
    migrate(engine)
    with engine.connect() as db:
        head = db.execute(text("SELECT seq, prev_hash, hash FROM audit_head")).one()
        last = db.execute(
            text("SELECT seq, prev_hash, hash FROM audit_records ORDER BY seq DESC LIMIT 1")
        ).one()
    assert tuple(head) == tuple(last)
    audit = AuditLog(sessions)
    audit.append(Entry(operation="DetectFaces", decision="allow", request_id="after-alone"))
    with sessions.begin() as s:
        audit.append(
            Entry(operation="IndexFaces", decision="allow", request_id="after-tx"), session=s
        )
    audit.close()
    report = verify_database(sessions, None)
    engine.dispose()
    assert report.ok and report.records == 5


def test_enumerated_columns_refuse_unknown_values_after_the_upgrade(url):
    """Migration 0010: the audit decision, a receipt's kind, a video's source and a video
    job's kind and status are checked by the database itself (upgraded from 0009)."""
    from sqlalchemy.exc import IntegrityError

    from facegate.audit.tables import AuditRecord, DeletionReceipt
    from facegate.video.tables import VideoJob

    engine = make_engine(url)
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0009")
    migrate(engine)
    with Session(engine) as s, s.begin():
        org = Organization(name="o", sector="commercial", created_at=T0)
        s.add(org)
        s.flush()
        org_id = org.id

    def record(decision: str) -> AuditRecord:
        return AuditRecord(seq=1, at=T0, operation="DetectFaces", decision=decision)

    def receipt(kind: str) -> DeletionReceipt:
        return DeletionReceipt(
            id="r1", kind=kind, requested_by="x", at=T0, body="{}", sha256="0" * 64
        )

    def job(kind: str = "search", status: str = "QUEUED") -> VideoJob:
        return VideoJob(
            id="j1",
            organization_id=org_id,
            access_key_id="k",
            holder="h",
            kind=kind,
            status=status,
            sample_fps=5.0,
            created_at=T0,
        )

    for good, bad in (
        (record("deny"), record("maybe")),
        (receipt("erasure"), receipt("forgotten")),
        (job(), job(kind="recognition")),
        (job(), job(status="PAUSED")),
    ):
        with pytest.raises(IntegrityError), Session(engine) as s, s.begin():
            s.add(bad)
        with Session(engine) as s, s.begin():  # the same row with a known value is stored
            s.add(good)
        with Session(engine) as s, s.begin():
            s.delete(s.merge(good))
    engine.dispose()

"""RETENTION and ERASURE: each face's deletion deadline, and deletion with a receipt.

A face is deleted by the earlier of its use case's end and its last interaction (enrollment,
a match in a search, an update) plus the use case's retention period (3 years by default,
after Illinois BIPA 15(a)). Faces enrolled before retention existed, or without a use case,
get last interaction + 3 years.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session, sessionmaker

from facegate.audit.log import Record
from facegate.audit.tables import DeletionReceipt
from facegate.db import aware
from facegate.gallery.tables import Collection, Face, Organization, User
from facegate.policy.tables import UseCase

if TYPE_CHECKING:
    from facegate.gallery.store import Gallery

DEFAULT_RETENTION_YEARS = 3.0
DAYS_PER_YEAR = 365.25


def deadline(last_interaction: datetime, use_case_end: datetime | None, years: float) -> datetime:
    """When a face last used at ``last_interaction`` must be gone."""
    by_age = aware(last_interaction) + timedelta(days=years * DAYS_PER_YEAR)
    return min(by_age, aware(use_case_end)) if use_case_end is not None else by_age


def touch(
    s: Session,
    org: int,
    collection: str,
    face_ids: Iterable[str],
    user_ids: Iterable[str],
    now: datetime,
) -> int:
    """Mark faces (and the faces of users) as used now and move their deadlines; how many."""
    face_ids, user_ids = list(face_ids), list(user_ids)
    if not face_ids and not user_ids:
        return 0
    query = (
        select(Face, UseCase)
        .join(Collection, Face.collection_id == Collection.id)
        .outerjoin(UseCase, Face.use_case_id == UseCase.id)
        .where(Collection.organization_id == org, Collection.name == collection)
    )
    by_face = query.where(Face.face_id.in_(face_ids)) if face_ids else None
    by_user = (
        query.join(User, Face.user_id == User.id).where(User.name.in_(user_ids))
        if user_ids
        else None
    )
    touched = 0
    for statement in (by_face, by_user):
        if statement is None:
            continue
        for face, use_case in s.execute(statement):
            face.last_interaction = now
            end = use_case.expires_at if use_case is not None else None
            years = use_case.retention_years if use_case is not None else DEFAULT_RETENTION_YEARS
            face.delete_by = deadline(now, end, years)
            touched += 1
    return touched


@dataclass(frozen=True)
class Doomed:
    """A face to delete: where it is and what the receipt says of it."""

    row_id: int
    face_id: str
    collection_id: int
    collection: str
    organization: str
    user_id: int | None


@dataclass(frozen=True)
class Deletion:
    """What a deletion's receipt says of it besides the faces."""

    kind: str  # "retention" or "erasure"
    organization: str
    subject: str  # the erased ExternalImageId or UserId ("" for retention)
    requested_by: str
    now: datetime  # the instant deadlines were judged at


def delete_with_receipt(
    gallery: Gallery,
    doomed: list[Doomed],
    deletion: Deletion,
    record: Record,
    delete_users: Iterable[int] = (),
) -> dict[str, Any]:
    """Delete ``doomed`` everywhere (SQL rows, crops, index files) with one receipt.

    Each collection is changed under its lock; the rows, the receipt and the audit record
    (``record(session, receipt)``) commit in one transaction, then the collection's index
    drops the vectors and is rewritten at once, so no file keeps them.
    """
    by_collection: dict[int, list[Doomed]] = {}
    for face in doomed:
        by_collection.setdefault(face.collection_id, []).append(face)
    d = deletion
    receipt = {
        "receipt_id": str(uuid.uuid4()),
        "kind": d.kind,
        "organization": d.organization,
        "subject": d.subject,
        "requested_by": d.requested_by,
        "at": datetime.now(UTC).isoformat(),  # when the deletion happened
        "as_of": d.now.astimezone(UTC).isoformat(),  # the instant deadlines were judged at
        "faces_deleted": len(doomed),
        "collections": sorted({f.collection for f in doomed}),
        "face_ids": sorted(f.face_id for f in doomed),
        "users_deleted": len(set(delete_users)),
    }
    body = json.dumps(receipt, sort_keys=True, separators=(",", ":"))
    receipt["sha256"] = hashlib.sha256(body.encode()).hexdigest()
    ids = sorted(by_collection)
    with ExitStack() as stack:
        for collection_id in ids:  # ascending: the one lock order for several collections
            stack.enter_context(gallery.indexes.locked(collection_id))
        with gallery.sessions.begin() as s:
            rows = [f.row_id for f in doomed]
            for chunk in _chunks(rows):
                s.execute(delete(Face).where(Face.row_id.in_(chunk)))
            users = list(set(delete_users))
            if users:
                s.execute(delete(User).where(User.id.in_(users)))
            s.add(
                DeletionReceipt(
                    id=receipt["receipt_id"],
                    kind=d.kind,
                    organization=d.organization,
                    subject=d.subject,
                    requested_by=d.requested_by,
                    at=d.now,
                    body=body,
                    sha256=receipt["sha256"],
                )
            )
            s.flush()
            record(s, receipt)
        for collection_id in ids:
            gallery.indexes.purged(collection_id, [f.row_id for f in by_collection[collection_id]])
    return receipt


def receipts(
    sessions: sessionmaker[Session], organization: str, limit: int
) -> list[dict[str, Any]]:
    """``organization``'s deletion receipts, newest first: each one's columns, its body read."""
    with sessions() as s:
        rows = s.scalars(
            select(DeletionReceipt)
            .where(DeletionReceipt.organization == organization)
            .order_by(DeletionReceipt.at.desc(), DeletionReceipt.id)
            .limit(limit)
        ).all()
        return [
            {
                "id": r.id,
                "kind": r.kind,
                "subject": r.subject,
                "requested_by": r.requested_by,
                "at": r.at,
                "body": json.loads(r.body),
                "sha256": r.sha256,
            }
            for r in rows
        ]


def _chunks(values: list[int], size: int = 500) -> Iterator[list[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _doomed_query():
    return (
        select(
            Face.row_id,
            Face.face_id,
            Face.collection_id,
            Collection.name,
            Organization.name,
            Face.user_id,
        )
        .join(Collection, Face.collection_id == Collection.id)
        .join(Organization, Collection.organization_id == Organization.id)
    )


def expired_faces(s: Session, now: datetime, limit: int = 10_000) -> list[Doomed]:
    """Faces whose deadline has passed (at most ``limit``, oldest deadline first)."""
    rows = s.execute(
        _doomed_query().where(Face.delete_by <= now).order_by(Face.delete_by).limit(limit)
    ).all()
    return [Doomed(*row) for row in rows]


def subject_faces(s: Session, org: int, subject: str) -> tuple[list[Doomed], list[int]]:
    """Every face of ``subject`` (an ExternalImageId or a UserId) in the organization's
    collections, and the ids of the users named ``subject``."""
    users = s.scalars(
        select(User.id)
        .join(Collection, User.collection_id == Collection.id)
        .where(Collection.organization_id == org, User.name == subject)
    ).all()
    query = _doomed_query().where(Collection.organization_id == org)
    matches = Face.external_image_id == subject
    if users:
        matches = or_(matches, Face.user_id.in_(users))
    rows = s.execute(query.where(matches).order_by(Face.row_id)).all()
    return [Doomed(*row) for row in rows], list(users)

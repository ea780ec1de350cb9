"""RETENTION and ERASURE: the faces to delete, and deleting them with a receipt.

A face past its deletion deadline (``faces.delete_by``, set and moved by
:mod:`facegate.policy.deadlines` from its use case) is purged; a subject's faces are erased
on request. Either way the rows, the receipt and the audit record commit together and the
collection's index forgets the vectors at once.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session, sessionmaker

from facegate.audit.log import Record
from facegate.audit.tables import DeletionReceipt
from facegate.gallery.tables import Collection, Face, Organization, User

if TYPE_CHECKING:
    from facegate.gallery.store import Gallery


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

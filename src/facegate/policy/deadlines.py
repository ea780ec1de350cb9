"""RETENTION: each face's deletion deadline, from the use case it was enrolled under.

A face is deleted by the earlier of its use case's end and its last interaction (enrollment,
a match in a search, an update) plus the use case's retention period (3 years by default,
after Illinois BIPA 15(a)). Faces enrolled before retention existed, or without a use case,
get last interaction + 3 years. The purge itself is :mod:`facegate.gallery.retention`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from facegate.db import aware
from facegate.gallery.tables import Collection, Face, User
from facegate.policy.tables import UseCase

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

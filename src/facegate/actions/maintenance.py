"""Work the server does on a timer, and the deletions people ask for, each one recorded.

- reviews past their deadline expire, and their material is deleted after retention;
- faces past their deletion deadline are purged everywhere (RETENTION) with a receipt;
- a subject's faces are erased across an organization's collections (ERASURE) with a receipt;
- the audit log's head is signed when records came after the last checkpoint.

The server's loop calls :func:`run_due`; the CLI calls the same functions.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any, Protocol

from facegate.actions.acting import Acting
from facegate.audit.log import AuditLog, Entry, Recorder
from facegate.config import Settings
from facegate.errors import InvalidParameterException, ResourceNotFoundException
from facegate.gallery.retention import (
    Deletion,
    delete_with_receipt,
    expired_faces,
    subject_faces,
)
from facegate.gallery.store import Gallery
from facegate.policy.point import DecisionPoint
from facegate.policy.registry import Registry
from facegate.policy.reviews import Reviews

log = logging.getLogger("facegate.maintenance")


class Maintained(Protocol):
    """What the server's maintenance works on."""

    @property
    def settings(self) -> Settings: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def gallery(self) -> Gallery: ...
    @property
    def point(self) -> DecisionPoint: ...
    @property
    def reviews(self) -> Reviews: ...


def _system_entry(operation: str, actor: str = "system") -> Entry:
    return Entry(operation=operation, decision="allow", member=actor)


def expire_reviews(services: Maintained) -> dict[str, int]:
    entry = _system_entry("System.ExpireReviews")
    recorder = Recorder(services.audit, entry, fill=lambda e, counts: e.detail.update(counts))
    return services.reviews.expire(record=recorder)


def purge_retention(
    services: Maintained, *, now: datetime | None = None, requested_by: str = "system"
) -> list[dict[str, Any]]:
    """Delete every face past its deadline; one receipt per organization (and per batch)."""
    now = now or services.point.clock()
    receipts: list[dict[str, Any]] = []
    while True:
        with services.gallery.sessions() as s:
            doomed = expired_faces(s, now)
        if not doomed:
            return receipts
        by_org: dict[str, list] = {}
        for face in doomed:
            by_org.setdefault(face.organization, []).append(face)
        for organization, faces in sorted(by_org.items()):
            entry = _system_entry("System.RetentionPurge", requested_by)
            entry.organization = organization
            recorder = Recorder(services.audit, entry, fill=_receipt_into)
            receipts.append(
                delete_with_receipt(
                    services.gallery,
                    faces,
                    Deletion(
                        kind="retention",
                        organization=organization,
                        subject="",
                        requested_by=requested_by,
                        now=now,
                    ),
                    recorder,
                )
            )


def erase(
    services: Maintained,
    organization: str,
    subject: str,
    *,
    requested_by: str,
    entry: Entry | None = None,
    recorder: Recorder | None = None,
) -> dict[str, Any]:
    """Erase every face of ``subject`` (ExternalImageId or UserId) in ``organization``.

    ``recorder``: the caller's, when the erasure is a policy-guarded request whose guard
    writes the record (:func:`facegate.actions.acting.guarded`); the receipt goes into it."""
    if not subject or len(subject) > 255:
        raise InvalidParameterException("The subject is an ExternalImageId or UserId (1-255).")
    with services.gallery.sessions() as s:
        org = Registry.organization(s, organization)
        doomed, users = subject_faces(s, org.id, subject)
    if not doomed and not users:
        raise ResourceNotFoundException(
            f"No face or user of subject {subject!r} in {organization}'s collections."
        )

    def deleted(record: Recorder) -> dict[str, Any]:
        return delete_with_receipt(
            services.gallery,
            doomed,
            Deletion(
                kind="erasure",
                organization=organization,
                subject=subject,
                requested_by=requested_by,
                now=datetime.now(UTC),
            ),
            record,
            delete_users=users,
        )

    if recorder is not None:
        recorder.fill = _receipt_into
        recorder.entry.resource = f"subject/{organization}"
        return deleted(recorder)
    entry = entry or _system_entry("Erase", requested_by)
    entry.organization = organization
    entry.resource = f"subject/{organization}"
    with Acting(services.audit, entry, fill=_receipt_into) as act:
        return deleted(act.recorder)


def _receipt_into(entry: Entry, receipt: dict[str, Any]) -> None:
    entry.result_count = receipt["faces_deleted"]
    entry.face_ids = receipt["face_ids"]
    entry.detail = {
        "receipt_id": receipt["receipt_id"],
        "receipt_sha256": receipt["sha256"],
        "kind": receipt["kind"],
        "collections": receipt["collections"],
        "users_deleted": receipt["users_deleted"],
    }


class Schedule:
    """When each piece of work is next due (monotonic seconds)."""

    def __init__(self, services: Maintained):
        settings = services.settings
        self.services = services
        self.every = {
            "reviews": 300.0,
            "retention": settings.retention_every_minutes * 60.0,
            "checkpoint": settings.audit_checkpoint_minutes * 60.0,
        }
        self.next = dict.fromkeys(self.every, 0.0)

    def run_due(self) -> None:
        now = time.monotonic()
        for name, every in self.every.items():
            if now < self.next[name]:
                continue
            self.next[name] = now + every
            try:
                if name == "reviews":
                    expire_reviews(self.services)
                elif name == "retention":
                    purged = purge_retention(self.services)
                    if purged:
                        log.info("retention purge: %d receipts", len(purged))
                else:
                    self.services.audit.checkpoint()
            except Exception:  # retried next time; maintenance must not stop the server
                log.exception("maintenance task %s failed", name)

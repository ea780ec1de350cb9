"""The service's health: what ``GET /health`` answers, and the fuller read the operator's
console shows (the policy set, the fairness gate, the video job queue, open reviews, the
audit log's head and last signed checkpoint).

Both doors read it from here: the API's ``/health`` route (:func:`served`) and the console's
health page (:func:`system`, which includes :func:`served`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import func, select

from facegate import __version__
from facegate.audit import chain
from facegate.audit.log import AuditLog
from facegate.audit.tables import AuditCheckpoint
from facegate.fairness.gate import FairnessGate
from facegate.policy.point import DecisionPoint
from facegate.policy.tables import Review
from facegate.video.tables import VideoJob
from facegate.vision.models import DEFAULT_CHAIN

JOB_STATES = ("QUEUED", "IN_PROGRESS")  # the video jobs shown as work waiting


class InFlight(Protocol):
    """The inference pool, as far as health reads it."""

    @property
    def in_flight(self) -> int: ...


class Observed(Protocol):
    """The services, as far as the health read needs them (``service.Services`` is one)."""

    @property
    def point(self) -> DecisionPoint: ...

    @property
    def audit(self) -> AuditLog: ...

    @property
    def fairness(self) -> FairnessGate: ...


def served(workers: int, pool: InFlight) -> dict[str, object]:
    """What ``GET /health`` answers: the version, the model chain, the inference workers."""
    return {
        "status": "ok",
        "version": __version__,
        "model": DEFAULT_CHAIN.describe(),
        "workers": workers,
        "in_flight": pool.in_flight,
    }


def system(services: Observed, answered: dict[str, object]) -> dict[str, Any]:
    """``answered`` (what ``/health`` says), and the state of the policy set, the fairness
    gate, the video job queue, the reviews and the audit log."""
    now = services.point.clock()
    with services.audit.sessions() as s:
        counted = select(VideoJob.status, func.count()).group_by(VideoJob.status)
        jobs = dict(s.execute(counted).tuples().all())
        open_reviews = s.scalar(
            select(func.count())
            .select_from(Review)
            .where(Review.status == "open", Review.expires_at > now)
        )
        head_seq, head_hash = chain.head(s)
        latest = s.scalars(
            select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)
        ).first()
    return {
        "served": answered,
        "policy_version": services.point.version,
        "fairness_gate": services.fairness.status(),
        "jobs": {status: jobs.get(status, 0) for status in JOB_STATES},
        "open_reviews": open_reviews or 0,
        "head": {"seq": head_seq, "hash": head_hash},
        "checkpoint": None
        if latest is None
        else {
            "seq": latest.seq,
            "at": chain.timestamp(latest.at),
            "key_id": latest.key_id,
            "behind": head_seq - latest.seq,
        },
        "at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }

"""Video jobs in SQL: a new job (``QUEUED``), the earlier job of a repeated
ClientRequestToken, a job's status, cancelling, the pages of a finished job's answer, and a
job's end (a failure is recorded in the audit log in the transaction that ends the job).

The dispatcher (:mod:`facegate.video.dispatcher`) claims and resumes jobs; the pipeline
(:mod:`facegate.video.pipeline`) produces their answers.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from facegate.audit.log import AuditLog, Entry, Record
from facegate.errors import (
    ConflictException,
    IdempotentParameterMismatchException,
    ResourceNotFoundException,
)
from facegate.gallery.tokens import TokenSigner
from facegate.policy.registry import Principal
from facegate.video.media import VideoMetadata
from facegate.video.results import page, without_deleted
from facegate.video.segments import expected_frames
from facegate.video.store import DIRECTORY_BUCKET, STORE_BUCKET
from facegate.video.tables import VideoJob, VideoJobSegment

OUTCOME_OPERATION = {"detection": "FaceDetectionJob", "search": "FaceSearchJob"}


@dataclass(frozen=True)
class Located:
    """The video a Start request names, read from its header before the policy decides."""

    video_id: str | None
    name: str
    metadata: VideoMetadata | None  # None: unreadable header (the job will fail and say why)


@dataclass(frozen=True)
class JobRequest:
    """What a Start request asks of its job besides who asks, the kind and the video."""

    collection: str | None = None
    requested_threshold: float | None = None
    effective_threshold: float | None = None
    review_required: bool = False
    case_reference: str = ""
    warrant_reference: str = ""
    job_tag: str = ""
    token: str = ""  # the ClientRequestToken
    digest: str = ""  # what the token stands for (the request's other parameters)
    max_matches: int = 0


def requester_of(p: Principal) -> dict[str, Any]:
    """Who asked, as the job keeps them for the record of its outcome."""
    return {
        "organization": p.organization,
        "sector": p.sector,
        "member": p.member,
        "roles": list(p.roles),
        "purpose": p.purpose,
        "review_quorum": p.review_quorum,
    }


def principal_of(job: VideoJob) -> Principal:
    """The principal who started ``job`` (its reviews are opened in their name)."""
    who = json.loads(job.requester or "{}")
    return Principal(
        access_key_id=job.access_key_id,
        organization_id=job.organization_id,
        organization=who.get("organization", ""),
        sector=who.get("sector", ""),
        operator=False,
        holder=job.holder,
        member=who.get("member", ""),
        roles=tuple(who.get("roles", ())),
        use_case_id=job.use_case_id,
        purpose=who.get("purpose", ""),
        review_quorum=int(who.get("review_quorum", 1)),
    )


def outcome_entry(job: VideoJob, decision: str) -> Entry:
    """The audit record of a job's outcome (``FaceDetectionJob`` / ``FaceSearchJob``)."""
    who = json.loads(job.requester or "{}")
    return Entry(
        operation=OUTCOME_OPERATION[job.kind],
        decision=decision,
        organization=who.get("organization", ""),
        sector=who.get("sector", ""),
        access_key_id=job.access_key_id,
        member=who.get("member", ""),
        roles=who.get("roles", ()),
        use_case_id=job.use_case_id,
        purpose=who.get("purpose", ""),
        resource=f"VideoJob:{who.get('organization', '')}/{job.id}",
        case_reference=job.case_reference,
        warrant_reference=job.warrant_reference,
        requested_threshold=job.requested_threshold,
        effective_threshold=job.effective_threshold,
    )


class JobRepository:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        tokens: TokenSigner,
        audit: AuditLog,
        sample_fps: float,
        clock: Callable[[], datetime],
    ):
        self.sessions = sessions
        self.tokens = tokens
        self.audit = audit
        self.sample_fps = sample_fps
        self.clock = clock

    def create(
        self,
        principal: Principal,
        kind: str,
        located: Located,
        request: JobRequest,
        record: Record,
    ) -> dict[str, Any]:
        """A ``QUEUED`` job, stored with its request's audit record; answers its JobId."""
        metadata = located.metadata
        job = VideoJob(
            id=secrets.token_hex(32),
            organization_id=principal.organization_id,
            access_key_id=principal.access_key_id,
            holder=principal.holder,
            use_case_id=principal.use_case_id,
            requester=json.dumps(requester_of(principal)),
            kind=kind,
            status="QUEUED",
            status_message="",
            video_id=located.video_id,
            video_name=located.name,
            collection=request.collection,
            requested_threshold=request.requested_threshold,
            effective_threshold=request.effective_threshold,
            job_tag=request.job_tag,
            client_request_token=request.token,
            request_digest=request.digest,
            case_reference=request.case_reference,
            warrant_reference=request.warrant_reference,
            review_required=request.review_required,
            review_ids="[]",
            max_matches=request.max_matches,
            counted_seconds=math.ceil(metadata.duration_ms / 1000) if metadata else 0,
            sample_fps=self.sample_fps,
            frames_total=expected_frames(metadata.duration_ms, self.sample_fps) if metadata else 0,
            video_metadata=json.dumps(metadata.to_dict()) if metadata else "{}",
            created_at=self.clock(),
        )
        with self.sessions.begin() as s:
            s.add(job)
            s.flush()
            out = {"JobId": job.id}
            record(s, out)
        return out

    def earlier(
        self, organization_id: int, kind: str, token: str | None, digest: str
    ) -> str | None:
        """The job a repeated ClientRequestToken started (Rekognition returns its JobId)."""
        if not token:
            return None
        with self.sessions() as s:
            job = s.scalars(
                select(VideoJob).where(
                    VideoJob.organization_id == organization_id,
                    VideoJob.kind == kind,
                    VideoJob.client_request_token == token,
                )
            ).first()
            if job is None:
                return None
            if job.request_digest != digest:
                raise IdempotentParameterMismatchException(
                    "ClientRequestToken was used before with different parameters."
                )
            return job.id

    @staticmethod
    def job(s: Session, organization_id: int, job_id: str, kind: str | None) -> VideoJob:
        """The organization's job ``job_id`` (of ``kind`` unless None), or not found."""
        job = s.get(VideoJob, job_id) if len(job_id) <= 64 else None
        if job is None or job.organization_id != organization_id or kind not in (None, job.kind):
            raise ResourceNotFoundException(f"No video job {job_id[:64]!r}.")
        return job

    def results(
        self,
        organization_id: int,
        job_id: str,
        kind: str,
        max_results: int,
        next_token: str | None,
        sort_by: str,
    ) -> dict[str, Any]:
        """GetFaceDetection / GetFaceSearch: the status, and a page of a finished answer."""
        with self.sessions() as s:
            job = self.job(s, organization_id, job_id, kind)
            out = status_view(job)
            if job.status == "SUCCEEDED":
                entries, token = page(s, self.tokens, job.id, sort_by, max_results, next_token)
                if kind == "search":
                    entries = without_deleted(s, organization_id, job.collection or "", entries)
                out["Faces" if kind == "detection" else "Persons"] = entries
                if token:
                    out["NextToken"] = token
            elif kind == "detection":
                out["Faces"] = []
            else:
                out["Persons"] = []
            return out

    def describe(self, organization_id: int, job_id: str) -> dict[str, Any]:
        with self.sessions() as s:
            return status_view(self.job(s, organization_id, job_id, None))

    def listing(self, organization_id: int, limit: int = 100) -> list[dict[str, Any]]:
        with self.sessions() as s:
            jobs = s.scalars(
                select(VideoJob)
                .where(VideoJob.organization_id == organization_id)
                .order_by(VideoJob.created_at.desc())
                .limit(limit)
            )
            return [status_view(j) for j in jobs]

    def cancel(self, organization_id: int, job_id: str, by: str, record: Record) -> dict[str, Any]:
        """Stop a job: a queued one at once, a running one after its current segments."""
        with self.sessions.begin() as s:
            job = self.job(s, organization_id, job_id, None)
            if job.status in ("SUCCEEDED", "FAILED"):
                raise ConflictException(f"Video job {job.id} has ended ({job.status}).")
            job.cancel_requested_by = by
            if job.status == "QUEUED":
                self.end(s, job, "FAILED", f"Cancelled by {by}.")
            s.flush()
            out = status_view(job)
            record(s, out)
        return out

    def cancelled_by(self, job_id: str) -> str:
        """Who asked to cancel the job ("" when nobody did)."""
        with self.sessions() as s:
            return s.scalar(select(VideoJob.cancel_requested_by).where(VideoJob.id == job_id)) or ""

    def end(self, s: Session, job: VideoJob, status: str, message: str) -> None:
        """End ``job`` in ``s``; a failure deletes its segments and is recorded."""
        job.status = status
        job.status_message = message
        job.finished_at = self.clock()
        if status == "FAILED":
            s.execute(delete(VideoJobSegment).where(VideoJobSegment.job_id == job.id))
            entry = outcome_entry(job, "error")
            entry.reasons = message
            entry.error_type = "VideoJobFailed"
            self.audit.append(entry, session=s)

    def fail(self, job_id: str, message: str) -> None:
        """Fail a job that has not ended yet, saying why in its ``StatusMessage``."""
        with self.sessions.begin() as s:
            job = s.get(VideoJob, job_id)
            if job is not None and job.status in ("QUEUED", "IN_PROGRESS"):
                self.end(s, job, "FAILED", message)


def status_view(job: VideoJob) -> dict[str, Any]:
    """A job's status in Rekognition's fields, plus facegate's progress and review ids."""
    metadata = json.loads(job.video_metadata or "{}")
    status = "IN_PROGRESS" if job.status == "QUEUED" else job.status
    out: dict[str, Any] = {"JobId": job.id, "JobStatus": status}
    if job.status_message:
        out["StatusMessage"] = job.status_message
    if metadata:
        out["VideoMetadata"] = VideoMetadata.from_dict(metadata).to_rekognition()
    if job.video_id:
        out["Video"] = {"S3Object": {"Bucket": STORE_BUCKET, "Name": job.video_id}}
    else:
        out["Video"] = {"S3Object": {"Bucket": DIRECTORY_BUCKET, "Name": job.video_name}}
    if job.job_tag:
        out["JobTag"] = job.job_tag
    percent = 100.0 if job.status == "SUCCEEDED" else 0.0
    if job.status != "SUCCEEDED" and job.frames_total:
        percent = min(99.0, 100.0 * job.frames_done / job.frames_total)
    out["Progress"] = {
        "Percent": round(percent, 1),
        "FramesDone": job.frames_done,
        "FramesTotal": max(job.frames_total, job.frames_done),
        "Queued": job.status == "QUEUED",
    }
    reviews = json.loads(job.review_ids or "[]")
    if job.review_required:
        out["ReviewRequired"] = True
        out["ReviewIds"] = reviews
    return out

"""Stored videos and video jobs (SQL is the system of record for both)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from facegate.db import Base, UTCDateTime, one_of

VIDEO_SOURCES = ("upload", "directory")
JOB_KINDS = ("detection", "search")
JOB_STATUSES = ("QUEUED", "IN_PROGRESS", "SUCCEEDED", "FAILED")

JOB_KINDS = ("detection", "search")
# Rekognition's JobStatus values; a job waiting for a worker is IN_PROGRESS to clients too.
JOB_STATUSES = ("QUEUED", "IN_PROGRESS", "SUCCEEDED", "FAILED")


class Video(Base):
    """A video a job can read: uploaded into facegate's store, or a file in the video
    directory the operator configured (``location`` is relative to either)."""

    __tablename__ = "videos"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[str] = mapped_column(String(16))  # one of VIDEO_SOURCES
    location: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    video_metadata: Mapped[str] = mapped_column(Text)  # media.VideoMetadata as JSON
    added_by: Mapped[str] = mapped_column(String(160))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # FOOTAGE-CONSENT: footage shared for an agency's request, from one camera.
    footage_request_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    camera_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    recorded_from: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (one_of("source", VIDEO_SOURCES, "video_source_known"),)


class VideoJob(Base):
    __tablename__ = "video_jobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    access_key_id: Mapped[str] = mapped_column(String(32))
    holder: Mapped[str] = mapped_column(String(160))
    use_case_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[str] = mapped_column(String(16))  # one of JOB_KINDS
    status: Mapped[str] = mapped_column(String(16), index=True)  # one of JOB_STATUSES
    status_message: Mapped[str] = mapped_column(Text, default="")
    # The video: a stored one (video_id), or a file in the video directory (video_name).
    video_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    video_name: Mapped[str] = mapped_column(String(1024), default="")
    # Who asked, as the audit log names them (for the record of the job's outcome).
    requester: Mapped[str] = mapped_column(Text, default="{}")
    max_matches: Mapped[int] = mapped_column(Integer, default=0)
    counted_seconds: Mapped[int] = mapped_column(Integer, default=0)
    collection: Mapped[str | None] = mapped_column(String(255), nullable=True)
    requested_threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    effective_threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    job_tag: Mapped[str] = mapped_column(String(256), default="")
    client_request_token: Mapped[str] = mapped_column(String(64), default="")
    request_digest: Mapped[str] = mapped_column(String(64), default="")
    case_reference: Mapped[str] = mapped_column(String(256), default="")
    warrant_reference: Mapped[str] = mapped_column(String(256), default="")
    review_required: Mapped[bool] = mapped_column(Boolean, default=False)
    review_ids: Mapped[str] = mapped_column(Text, default="[]")
    sample_fps: Mapped[float] = mapped_column(Float)
    frames_total: Mapped[int] = mapped_column(Integer, default=0)
    frames_done: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested_by: Mapped[str] = mapped_column(String(160), default="")
    video_metadata: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        one_of("kind", JOB_KINDS, "video_job_kind_known"),
        one_of("status", JOB_STATUSES, "video_job_status_known"),
    )


class VideoJobSegment(Base):
    """One analysed stretch of a running job's video: what a restarted job resumes from.

    Holds face vectors of everyone in the footage, so it is deleted when the job ends."""

    __tablename__ = "video_job_segments"

    job_id: Mapped[str] = mapped_column(
        ForeignKey("video_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    frames: Mapped[int] = mapped_column(Integer)
    faces: Mapped[str] = mapped_column(Text)  # JSON, vectors base64


class VideoJobResult(Base):
    """One entry of a finished job's answer (a ``FaceDetection`` or a ``PersonMatch``)."""

    __tablename__ = "video_job_results"

    job_id: Mapped[str] = mapped_column(
        ForeignKey("video_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    row: Mapped[int] = mapped_column(Integer, primary_key=True)
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    person_index: Mapped[int] = mapped_column(Integer, default=0)
    body: Mapped[str] = mapped_column(Text)

"""SQL tables of governance: people, use-case registrations, exemptions, reviews, counters.

They share the gallery's metadata (one schema, one Alembic history). Status and kind columns
are checked by the database as well as by the code.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from facegate.db import Base, UTCDateTime, one_of

ROLES = ("admin", "analyst", "reviewer", "auditor", "owner")  # owner: of cameras (footage)
USE_CASE_STATUSES = ("pending", "approved", "rejected", "revoked")
EXEMPT_PURPOSES = ("missing_persons", "trafficking_victims")
REVIEW_STATUSES = ("open", "confirmed", "rejected", "expired")


class Member(Base):
    """A person of an organization, with roles (a JSON list of ROLES)."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    roles: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("organization_id", "name", name="member_name_per_organization"),
        CheckConstraint("length(name) >= 1", name="member_name_not_empty"),
    )


class UseCase(Base):
    """A use-case registration (LIMITED-ACCESS) and the decision an operator took on it."""

    __tablename__ = "use_cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text)
    operations: Mapped[str] = mapped_column(Text)  # JSON list of operation classes
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="pending")
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    registered_by: Mapped[str] = mapped_column(String(128))
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # HUMAN-REVIEW for sectors the default rule does not bind, and how many reviewers agree.
    human_review: Mapped[bool] = mapped_column(Boolean, default=False)
    review_quorum: Mapped[int] = mapped_column(Integer, default=1)
    # SURVEILLANCE-LIMITS (None: no cap).
    searches_per_hour: Mapped[int | None] = mapped_column(Integer, nullable=True)
    searches_per_day: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_faces: Mapped[int | None] = mapped_column(Integer, nullable=True)
    video_hours_per_day: Mapped[float | None] = mapped_column(Float, nullable=True)
    # NO-REALTIME: live-stream identification only where an operator enabled it.
    realtime: Mapped[bool] = mapped_column(Boolean, default=False)
    # RETENTION: faces are deleted this long after their last interaction (BIPA: 3 years).
    retention_years: Mapped[float] = mapped_column(Float, default=3.0)

    __table_args__ = (
        one_of("status", USE_CASE_STATUSES, "use_case_status_known"),
        CheckConstraint("review_quorum IN (1, 2)", name="use_case_quorum_one_or_two"),
    )


class Exemption(Base):
    """A vetted exemption from the moratorium, granted by the operator."""

    __tablename__ = "exemptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    granted_by: Mapped[str] = mapped_column(String(128))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (one_of("purpose", EXEMPT_PURPOSES, "exemption_purpose_known"),)


class Review(Base):
    """A candidate list held back for human review. What it holds is sealed (Fernet)."""

    __tablename__ = "reviews"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    use_case_id: Mapped[int | None] = mapped_column(
        ForeignKey("use_cases.id", ondelete="SET NULL"), nullable=True
    )
    requester: Mapped[str] = mapped_column(String(160))  # "member:<id>" or "key:<id>"
    requester_key: Mapped[str] = mapped_column(String(32))
    operation: Mapped[str] = mapped_column(String(64))
    collection: Mapped[str] = mapped_column(String(255))
    case_reference: Mapped[str] = mapped_column(String(256), default="")
    requested_threshold: Mapped[float] = mapped_column(Float)
    effective_threshold: Mapped[float] = mapped_column(Float)
    quorum: Mapped[int] = mapped_column(Integer, default=1)
    candidate_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # When the sealed material below is deleted (closed_at + the retention period).
    purge_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sealed_result: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    sealed_probe: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # After a confirmation: the confirmed candidate ids (JSON list), sealed.
    sealed_release: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)

    __table_args__ = (one_of("status", REVIEW_STATUSES, "review_status_known"),)


class ReviewDecision(Base):
    """One reviewer's decision on a review."""

    __tablename__ = "review_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[str] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    reviewer: Mapped[str] = mapped_column(String(160))  # "member:<id>"
    reviewer_key: Mapped[str] = mapped_column(String(32))
    decision: Mapped[str] = mapped_column(String(8))
    confirmed: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of candidate ids
    note: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        one_of("decision", ("confirm", "reject"), "review_decision_known"),
        UniqueConstraint("review_id", "reviewer", name="one_decision_per_reviewer"),
    )


class UsageCounter(Base):
    """SURVEILLANCE-LIMITS counters: a use case's searches or video seconds in one window."""

    __tablename__ = "usage_counters"

    use_case_id: Mapped[int] = mapped_column(
        ForeignKey("use_cases.id", ondelete="CASCADE"), primary_key=True
    )
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)  # searches, video_seconds
    window: Mapped[str] = mapped_column(String(8), primary_key=True)  # hour, day
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    amount: Mapped[float] = mapped_column(Float, default=0.0)


# Console sign-in: people with passwords (Argon2) and their sessions.


class ConsoleUser(Base):
    """A person who signs in to the console; acts as a member of an organization."""

    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(160), default="")
    last_sign_in: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ConsoleSession(Base):
    """A signed-in browser. ``id`` is the SHA-256 of the cookie's token (the token itself is
    never stored); ``csrf`` the token every form of the session must carry."""

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("console_users.id", ondelete="CASCADE"), index=True
    )
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

"""SQL tables of footage sharing: cameras, agencies' requests, each camera owner's decision.

An agency never reads these rows directly: what it sees of them is counts and the footage that
was shared with it (:mod:`facegate.footage.views`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from facegate.db import Base, UTCDateTime, one_of

REQUEST_STATUSES = ("open", "closed")
# A camera's answer to a request. "revoked": approved, then withdrawn before any footage of
# the camera was shared for the request.
CONSENT_STATUSES = ("pending", "approved", "declined", "revoked")


class Camera(Base):
    """A private camera of a community organization, owned by one of its members."""

    __tablename__ = "cameras"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    owner_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    address: Mapped[str] = mapped_column(String(256), default="")
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    registered_by: Mapped[str] = mapped_column(String(160))

    __table_args__ = (
        UniqueConstraint("organization_id", "name", name="camera_name_per_organization"),
        CheckConstraint("length(name) >= 1", name="camera_name_not_empty"),
        CheckConstraint("latitude >= -90 AND latitude <= 90", name="camera_latitude_range"),
        CheckConstraint("longitude >= -180 AND longitude <= 180", name="camera_longitude_range"),
    )


class FootageRequest(Base):
    """An agency's request for footage of one time window, from named cameras or an area."""

    __tablename__ = "footage_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    requested_by: Mapped[str] = mapped_column(String(160))  # "member:<id>" or "key:<id>"
    incident: Mapped[str] = mapped_column(String(256))
    reason: Mapped[str] = mapped_column(Text)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    window_end: Mapped[datetime] = mapped_column(UTCDateTime())
    # A request by area: the circle the cameras were chosen in when it was made.
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    radius_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(160), nullable=True)

    __table_args__ = (
        one_of("status", REQUEST_STATUSES, "footage_request_status_known"),
        CheckConstraint("window_end > window_start", name="footage_request_window_order"),
    )


class FootageConsent(Base):
    """One camera of a request and its owner's decision; ``shared`` counts the videos shared
    for it (an approval with shared footage is used and can no longer be revoked)."""

    __tablename__ = "footage_consents"

    request_id: Mapped[int] = mapped_column(
        ForeignKey("footage_requests.id", ondelete="CASCADE"), primary_key=True
    )
    camera_id: Mapped[int] = mapped_column(
        ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(160), nullable=True)
    shared: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        one_of("status", CONSENT_STATUSES, "footage_consent_status_known"),
        CheckConstraint("shared >= 0", name="footage_consent_shared_count"),
    )

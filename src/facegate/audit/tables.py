"""The decision record: one row for every request and every administrative action.

No image bytes and no vectors are ever written here; face ids only of returned results.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from facegate.gallery.schema import Base, RowId


class AuditRecord(Base):
    __tablename__ = "audit_records"

    seq: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    organization: Mapped[str] = mapped_column(String(128), default="")
    sector: Mapped[str] = mapped_column(String(32), default="")
    access_key_id: Mapped[str] = mapped_column(String(32), default="")
    member: Mapped[str] = mapped_column(String(128), default="")
    roles: Mapped[str] = mapped_column(Text, default="[]")
    use_case_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    purpose: Mapped[str] = mapped_column(String(64), default="")
    operation: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(300), default="")
    decision: Mapped[str] = mapped_column(String(8))  # allow, deny, error
    policy_version: Mapped[str] = mapped_column(String(64), default="")
    policies: Mapped[str] = mapped_column(Text, default="[]")  # ids of the deciding policies
    reasons: Mapped[str] = mapped_column(Text, default="")
    error_type: Mapped[str] = mapped_column(String(64), default="")
    case_reference: Mapped[str] = mapped_column(String(256), default="")
    warrant_reference: Mapped[str] = mapped_column(String(256), default="")
    requested_threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    effective_threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    result_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    face_ids: Mapped[str] = mapped_column(Text, default="[]")
    review_id: Mapped[str] = mapped_column(String(36), default="")
    request_id: Mapped[str] = mapped_column(String(36), default="")
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="{}")  # administrative actions: what changed

    __table_args__ = ({"sqlite_autoincrement": True},)

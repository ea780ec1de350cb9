"""Recorded demographic audits (FAIRNESS-GATE): one row per audit of a model version."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from facegate.db import Base, UTCDateTime


class FairnessAudit(Base):
    __tablename__ = "fairness_audits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_version: Mapped[str] = mapped_column(String(64), index=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(160))
    dataset: Mapped[str] = mapped_column(String(255), default="")
    target_fmr: Mapped[str] = mapped_column(String(32), default="")
    report_sha256: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text)  # JSON: the summary measures
    groups: Mapped[str] = mapped_column(Text)  # JSON: per-group rates

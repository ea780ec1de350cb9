"""The audit log: one hash-chained record for every request and administrative action.

No image bytes and no vectors are ever written here; face ids only of returned results.
``audit_head`` holds the chain's last sequence number and hash (appends compare-and-set it, so
two writers can never fork the chain); ``audit_checkpoints`` holds signed heads;
``deletion_receipts`` the receipts of retention purges and erasures.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from facegate.db import Base, RowId, UTCDateTime, one_of

DECISIONS = ("allow", "deny", "error")
RECEIPT_KINDS = ("retention", "erasure")


class AuditRecord(Base):
    __tablename__ = "audit_records"

    seq: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    organization: Mapped[str] = mapped_column(String(128), default="")
    sector: Mapped[str] = mapped_column(String(32), default="")
    access_key_id: Mapped[str] = mapped_column(String(32), default="")
    member: Mapped[str] = mapped_column(String(128), default="")
    roles: Mapped[str] = mapped_column(Text, default="[]")
    use_case_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    purpose: Mapped[str] = mapped_column(String(64), default="")
    operation: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(300), default="")
    decision: Mapped[str] = mapped_column(String(8))  # one of DECISIONS
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
    # The chain: the previous record's hash and this one's (see facegate.audit.chain).
    prev_hash: Mapped[str] = mapped_column(String(64), default="")
    hash: Mapped[str] = mapped_column(String(64), default="")

    __table_args__ = (one_of("decision", DECISIONS, "audit_decision_known"),)


class AuditHead(Base):
    """The chain's head: one row (id 1), the last record's seq and hash and the hash before it."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(RowId)
    hash: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64), default="", server_default="")


class AuditCheckpoint(Base):
    """A signed head: Ed25519 over the canonical (seq, hash, at, key id)."""

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))  # base64


class DeletionReceipt(Base):
    """What a retention purge or an erasure deleted, when, by whom; its hash is in the log."""

    __tablename__ = "deletion_receipts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # one of RECEIPT_KINDS
    organization: Mapped[str] = mapped_column(String(128), default="")
    subject: Mapped[str] = mapped_column(String(255), default="")
    requested_by: Mapped[str] = mapped_column(String(160))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    body: Mapped[str] = mapped_column(Text)  # the receipt as canonical JSON
    sha256: Mapped[str] = mapped_column(String(64))

    __table_args__ = (one_of("kind", RECEIPT_KINDS, "deletion_receipt_kind_known"),)

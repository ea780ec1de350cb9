"""The system of record: SQL tables for organizations, keys, collections, faces and users.

SQL is the truth; the FAISS index of a collection is a projection rebuilt from ``faces``.
``faces.row_id`` only ever grows (AUTOINCREMENT on SQLite, an identity on PostgreSQL), so the
index can name the last row it holds (its high-water mark). Constraints live here, in the
database, not only in Python. The Alembic migrations in ``facegate/db/migrations/`` are the
schema's history.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from facegate.db import Base, RowId, UTCDateTime


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    is_operator: Mapped[bool] = mapped_column(Boolean, default=False)
    # One of SECTORS (policy-rules.md); the policies bind on it.
    sector: Mapped[str] = mapped_column(String(32), default="commercial")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("length(name) >= 1", name="organization_name_not_empty"),
        CheckConstraint(
            "sector IN ('law_enforcement', 'government', 'nonprofit', 'commercial', 'research', "
            "'community')",
            name="organization_sector_known",
        ),
    )


SECTORS = ("law_enforcement", "government", "nonprofit", "commercial", "research", "community")


class AccessKey(Base):
    __tablename__ = "access_keys"

    access_key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)  # Fernet token, never plain text
    description: Mapped[str] = mapped_column(String(256), default="")
    # The approved use case the key was issued for (None only for the operator's admin keys).
    use_case_id: Mapped[int | None] = mapped_column(
        ForeignKey("use_cases.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    # The person holding the key, whose roles it carries (None: a service key, role analyst).
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="RESTRICT"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Collection(Base):
    __tablename__ = "collections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))  # Rekognition's CollectionId
    face_model_version: Mapped[str] = mapped_column(String(64))
    tags: Mapped[str] = mapped_column(Text, default="{}")  # JSON object
    # ENROLLMENT-BASIS defaults for faces indexed without their own.
    legal_basis: Mapped[str | None] = mapped_column(Text, nullable=True)
    provenance: Mapped[str | None] = mapped_column(Text, nullable=True)
    # HUMAN-REVIEW: keep an encrypted crop of each face so a reviewer can see the candidates.
    keeps_review_crops: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("organization_id", "name", name="collection_name_per_organization"),
        CheckConstraint("length(name) >= 1", name="collection_name_not_empty"),
    )


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))  # Rekognition's UserId
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("collection_id", "name", name="user_name_per_collection"),
        CheckConstraint("length(name) >= 1", name="user_name_not_empty"),
    )


class Face(Base):
    __tablename__ = "faces"

    row_id: Mapped[int] = mapped_column(RowId, Identity(always=False), primary_key=True)
    face_id: Mapped[str] = mapped_column(String(36), unique=True)  # UUID
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    image_id: Mapped[str] = mapped_column(String(36))  # UUID of the indexed image
    image_sha256: Mapped[str] = mapped_column(String(64))
    external_image_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    box_left: Mapped[float] = mapped_column(Float)
    box_top: Mapped[float] = mapped_column(Float)
    box_width: Mapped[float] = mapped_column(Float)
    box_height: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(String(64))
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32 little-endian
    detail: Mapped[str] = mapped_column(Text)  # the FaceDetail (geometry, quality) as JSON
    # ENROLLMENT-BASIS: the legal ground and where the image came from (None before 0002).
    legal_basis: Mapped[str | None] = mapped_column(Text, nullable=True)
    provenance: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # RETENTION: the last time the face matched a search or was updated, and the deadline by
    # which it is deleted (the earlier of its use case's end and last interaction + N years).
    last_interaction: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), nullable=True
    )
    delete_by: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), nullable=True, index=True
    )
    # The use case the face was enrolled under (its end bounds the deadline).
    use_case_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (
        Index("faces_by_image", "collection_id", "image_sha256", "external_image_id"),
        CheckConstraint("confidence >= 0 AND confidence <= 100", name="face_confidence_range"),
        CheckConstraint("box_width >= 0 AND box_height >= 0", name="face_box_size"),
        {"sqlite_autoincrement": True},
    )


class FaceCrop(Base):
    """A face's crop (JPEG, sealed with the master key), kept only where review needs it."""

    __tablename__ = "face_crops"

    face_row_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("faces.row_id", ondelete="CASCADE"), primary_key=True
    )
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class IdempotentRequest(Base):
    """A request sent with a ClientRequestToken, and the answer it got (for 8 hours)."""

    __tablename__ = "idempotent_requests"

    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    operation: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    response: Mapped[str] = mapped_column(Text)  # JSON
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


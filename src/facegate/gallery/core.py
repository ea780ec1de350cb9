"""What every part of the gallery shares: its state, the lookups and the answers' shapes.

:class:`GalleryCore` holds the sessions, the FAISS registry (``indexes``), the pagination
token signer, the calibration and the face model version; the parts of
:class:`facegate.gallery.store.Gallery` (collections, faces, users, search) build on it, so
there is one collection lookup, one token signer and one way to the FAISS indexes.

Every lookup takes the caller's organization id: a collection of another organization is
``ResourceNotFoundException``, exactly like one that does not exist, so existence never leaks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from facegate.auth.secrets import SecretBox
from facegate.errors import ResourceNotFoundException
from facegate.gallery.indexes import IndexRegistry
from facegate.gallery.tables import Collection, Face, User
from facegate.gallery.tokens import TokenSigner
from facegate.vision.calibration import Calibration


def utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes: they were stored as UTC."""
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


def collection_arn(organization_id: int, name: str) -> str:
    return f"arn:facegate:rekognition:local:{organization_id:012d}:collection/{name}"


def find_collection(s: Session, org: int, name: str) -> Collection:
    """The organization's collection ``name``; ResourceNotFoundException when it has none."""
    found = s.scalar(
        select(Collection).where(Collection.organization_id == org, Collection.name == name)
    )
    if found is None:
        raise ResourceNotFoundException(f"The collection id: {name} does not exist")
    return found


def find_user(s: Session, c: Collection, user_id: str) -> User:
    user = s.scalar(select(User).where(User.collection_id == c.id, User.name == user_id))
    if user is None:
        raise ResourceNotFoundException(f"The user id: {user_id} does not exist")
    return user


def user_status(s: Session, user: User) -> str:
    """``ACTIVE`` when the user has a face, else ``CREATED``."""
    has_faces = s.scalar(select(Face.row_id).where(Face.user_id == user.id).limit(1))
    return "ACTIVE" if has_faces is not None else "CREATED"


def face_record(f: Face, user: str | None) -> dict[str, Any]:
    """A face in Rekognition's ``Face`` shape (with its user's id when it has one)."""
    record: dict[str, Any] = {
        "FaceId": f.face_id,
        "BoundingBox": {
            "Width": f.box_width,
            "Height": f.box_height,
            "Left": f.box_left,
            "Top": f.box_top,
        },
        "ImageId": f.image_id,
        "Confidence": f.confidence,
        "IndexFacesModelVersion": f.model_version,
    }
    if f.external_image_id is not None:
        record["ExternalImageId"] = f.external_image_id
    if user is not None:
        record["UserId"] = user
    return record


def unsuccessful(face_id: str, user_id: str | None, reasons: list[str]) -> dict[str, Any]:
    """A face an association or disassociation left out, with why."""
    out: dict[str, Any] = {"FaceId": face_id, "Reasons": reasons}
    if user_id is not None:
        out["UserId"] = user_id
    return out


class GalleryCore:
    """The state the gallery's parts share (see the module docstring)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        indexes: IndexRegistry,
        tokens: TokenSigner,
        calibration: Calibration,
        model_version: str,
        box: SecretBox | None = None,
    ):
        self.sessions = sessions
        self.indexes = indexes
        self.tokens = tokens
        self.calibration = calibration
        self.model_version = model_version
        self.box = box  # seals the face crops kept for human review

    def _collection_id(self, org: int, name: str) -> int:
        """The collection's id, read before a writer takes the collection's lock."""
        with self.sessions() as s:
            return find_collection(s, org, name).id

    def collection_exists(self, org: int, name: str) -> None:
        """Raise ResourceNotFoundException early (before any image is analysed)."""
        self._collection_id(org, name)

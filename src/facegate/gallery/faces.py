"""Faces: IndexFaces (an :class:`Enrollment`), listing, their governance metadata, deletion.

A writer reads the collection's id, takes the collection's lock, commits its SQL change with
its audit record, then updates the collection's FAISS index under the same lock.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, select

from facegate.audit.log import Record
from facegate.db import utcnow
from facegate.gallery.core import GalleryCore, face_record, find_collection, utc
from facegate.gallery.indexes import vector_bytes
from facegate.gallery.tables import Collection, Face, FaceCrop, User


@dataclass(frozen=True)
class Enrollment:
    """What IndexFaces stores from one image: the faces selected and the facts they carry.

    ``indexed`` are the engine's selected faces (``detail``, ``vector``, and ``crop`` when
    crops were asked for), ``unindexed`` the ones left out with their reasons. With
    ``keep_crops`` each face's crop is stored sealed for reviewers, and the collection keeps
    crops from then on.
    """

    image_sha256: str
    external_image_id: str | None
    indexed: Sequence[dict[str, Any]]
    unindexed: Sequence[dict[str, Any]]
    legal_basis: str | None = None  # ENROLLMENT-BASIS
    provenance: str | None = None
    keep_crops: bool = False  # HUMAN-REVIEW
    use_case_id: int | None = None
    delete_by: datetime | None = None  # RETENTION: the faces' deletion deadline


class FaceOperations(GalleryCore):
    def index_faces(
        self, org: int, name: str, enrollment: Enrollment, record: Record
    ) -> dict[str, Any]:
        """Store the enrollment's faces, unless this image was indexed with this
        ExternalImageId (then the first answer again, and nothing is recorded here)."""
        e = enrollment
        collection_id = self._collection_id(org, name)
        with self.indexes.locked(collection_id):
            with self.sessions.begin() as s:
                existing = s.scalars(
                    select(Face)
                    .where(
                        Face.collection_id == collection_id,
                        Face.image_sha256 == e.image_sha256,
                        Face.external_image_id.is_(None)
                        if e.external_image_id is None
                        else Face.external_image_id == e.external_image_id,
                    )
                    .order_by(Face.row_id)
                ).all()
                if existing:  # the same image and label again: answer as the first time
                    return self._indexed([(f, json.loads(f.detail)) for f in existing], e.unindexed)
                rows = self._face_rows(collection_id, e)
                s.add_all(rows)
                s.flush()
                if e.keep_crops and self.box is not None:
                    c = s.get(Collection, collection_id)
                    assert c is not None
                    c.keeps_review_crops = True
                    s.add_all(
                        FaceCrop(face_row_id=r.row_id, sealed=self.box.seal_bytes(f["crop"]))
                        for r, f in zip(rows, e.indexed, strict=True)
                        if f.get("crop")
                    )
                ids = [r.row_id for r in rows]
                out = self._indexed(
                    [(r, f["detail"]) for r, f in zip(rows, e.indexed, strict=True)], e.unindexed
                )
                record(s, out)
            # Committed (acknowledged) here; the index follows under the same lock.
            if rows:
                self.indexes.added(
                    collection_id, ids, np.stack([np.asarray(f["vector"]) for f in e.indexed])
                )
        return out

    def _face_rows(self, collection_id: int, e: Enrollment) -> list[Face]:
        """The new rows of the enrollment's faces: one image id, enrolled and used now."""
        image_id, at = str(uuid.uuid4()), utcnow()
        rows = []
        for face in e.indexed:
            box = face["detail"]["BoundingBox"]
            rows.append(
                Face(
                    face_id=str(uuid.uuid4()),
                    collection_id=collection_id,
                    image_id=image_id,
                    image_sha256=e.image_sha256,
                    external_image_id=e.external_image_id,
                    box_left=box["Left"],
                    box_top=box["Top"],
                    box_width=box["Width"],
                    box_height=box["Height"],
                    confidence=face["detail"]["Confidence"],
                    model_version=self.model_version,
                    vector=vector_bytes(face["vector"]),
                    detail=json.dumps(face["detail"]),
                    legal_basis=e.legal_basis,
                    provenance=e.provenance,
                    created_at=at,
                    last_interaction=at,
                    delete_by=e.delete_by,
                    use_case_id=e.use_case_id,
                )
            )
        return rows

    def _indexed(
        self, faces: list[tuple[Face, dict[str, Any]]], unindexed: Sequence[dict[str, Any]]
    ) -> dict[str, Any]:
        """IndexFaces' answer: each face with its detail, and the faces left out."""
        return {
            "FaceRecords": [{"Face": face_record(f, None), "FaceDetail": d} for f, d in faces],
            "UnindexedFaces": unindexed,
            "FaceModelVersion": self.model_version,
        }

    def list_faces(
        self,
        org: int,
        name: str,
        max_results: int,
        token: str | None,
        user_id: str | None = None,
        face_ids: list[str] | None = None,
    ) -> dict[str, Any]:
        with self.sessions() as s:
            c = find_collection(s, org, name)
            scope = {"org": org, "c": c.id, "list": "faces", "u": user_id, "f": face_ids}
            after = int(self.tokens.read(token, scope)) if token else 0
            query = (
                select(Face, User.name)
                .outerjoin(User, Face.user_id == User.id)
                .where(Face.collection_id == c.id, Face.row_id > after)
            )
            if user_id is not None:
                query = query.where(User.name == user_id)
            if face_ids:
                query = query.where(Face.face_id.in_(face_ids))
            rows = s.execute(query.order_by(Face.row_id).limit(max_results + 1)).all()
        page = rows[:max_results]
        out: dict[str, Any] = {
            "Faces": [face_record(f, u) for f, u in page],
            "FaceModelVersion": c.face_model_version,
        }
        if len(rows) > max_results:
            out["NextToken"] = self.tokens.issue(scope, page[-1][0].row_id)
        return out

    def face_metadata(self, org: int, name: str, face_ids: list[str]) -> dict[str, dict]:
        """What facegate keeps about faces beside Rekognition's fields: legal basis,
        provenance, use case, enrolled, last interaction, deletion deadline (UTC)."""
        if not face_ids:
            return {}
        with self.sessions() as s:
            c = find_collection(s, org, name)
            faces = s.scalars(
                select(Face).where(Face.collection_id == c.id, Face.face_id.in_(face_ids))
            ).all()
        return {
            f.face_id: {
                "legal_basis": f.legal_basis,
                "provenance": f.provenance,
                "use_case_id": f.use_case_id,
                "enrolled": utc(f.created_at),
                "last_interaction": utc(f.last_interaction),
                "delete_by": utc(f.delete_by),
            }
            for f in faces
        }

    def delete_faces(
        self, org: int, name: str, face_ids: list[str], record: Record
    ) -> dict[str, Any]:
        """Delete faces no user holds; recorded here only when one was deleted."""
        collection_id = self._collection_id(org, name)
        deleted, failed, row_ids = [], [], []
        with self.indexes.locked(collection_id):
            with self.sessions.begin() as s:
                found = {
                    f.face_id: (f, u)
                    for f, u in s.execute(
                        select(Face, User.name)
                        .outerjoin(User, Face.user_id == User.id)
                        .where(Face.collection_id == collection_id, Face.face_id.in_(face_ids))
                    )
                }
                for face_id in dict.fromkeys(face_ids):
                    face, user = found.get(face_id, (None, None))
                    if face is None:
                        failed.append({"FaceId": face_id, "Reasons": ["FACE_NOT_FOUND"]})
                    elif user is not None:
                        failed.append(
                            {
                                "FaceId": face_id,
                                "UserId": user,
                                "Reasons": ["ASSOCIATED_TO_AN_EXISTING_USER"],
                            }
                        )
                    else:
                        deleted.append(face_id)
                        row_ids.append(face.row_id)
                out = {"DeletedFaces": deleted, "UnsuccessfulFaceDeletions": failed}
                if row_ids:
                    s.execute(delete(Face).where(Face.row_id.in_(row_ids)))
                    record(s, out)
            self.indexes.removed(collection_id, row_ids)
        return out

"""Searches of a collection: faces and users like a stored face, a user, or a probe's vector.

FAISS proposes the nearest faces, SQL confirms them (a deleted face is never returned), and
the calibration turns their distances into similarities.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from facegate.errors import InvalidParameterException
from facegate.gallery.core import GalleryCore, face_record, find_collection, find_user, user_status
from facegate.gallery.indexes import vector_from
from facegate.gallery.tables import Collection, Face, User

USER_CANDIDATES = 4096  # faces looked at per vector when users are searched


def _stored_face(s: Session, c: Collection, face_id: str | None) -> Face | None:
    return s.scalar(select(Face).where(Face.collection_id == c.id, Face.face_id == face_id))


def _face_matches(matches: list[tuple[Face, str | None, float]]) -> list[dict[str, Any]]:
    """Matched faces in Rekognition's ``FaceMatches`` shape."""
    return [{"Similarity": round(sim, 4), "Face": face_record(f, u)} for f, u, sim in matches]


class SearchOperations(GalleryCore):
    def _matches(
        self,
        s: Session,
        c: Collection,
        vector: np.ndarray,
        k: int,
        threshold: float,
        exclude_row: int | None = None,
    ) -> list[tuple[Face, str | None, float]]:
        """Faces of ``c`` at or above ``threshold``, best first: FAISS proposes, SQL confirms."""
        index = self.indexes.get(c.id)
        if len(index) == 0:
            return []
        ids, distances = index.search(np.asarray(vector, dtype=np.float32), min(len(index), k + 1))
        sims = np.atleast_1d(self.calibration.similarity(distances))
        wanted = {
            int(i): float(sim)
            for i, sim in zip(ids, sims, strict=True)
            if sim >= threshold and int(i) != exclude_row
        }
        if not wanted:
            return []
        rows = s.execute(
            select(Face, User.name)
            .outerjoin(User, Face.user_id == User.id)
            .where(Face.collection_id == c.id, Face.row_id.in_(list(wanted)))
        ).all()
        # a deleted face is never returned
        found: list[tuple[Face, str | None, float]] = [(f, u, wanted[f.row_id]) for f, u in rows]
        found.sort(key=lambda m: m[2], reverse=True)
        return found[:k]

    def search_faces(
        self, org: int, name: str, face_id: str, max_faces: int, threshold: float
    ) -> dict[str, Any]:
        with self.sessions() as s:
            c = find_collection(s, org, name)
            face = _stored_face(s, c, face_id)
            if face is None:
                raise InvalidParameterException(
                    f"The face id {face_id} is not in collection {name}."
                )
            return {
                "SearchedFaceId": face_id,
                "FaceMatches": _face_matches(
                    self._matches(s, c, vector_from(face.vector), max_faces, threshold, face.row_id)
                ),
                "FaceModelVersion": c.face_model_version,
            }

    def search_faces_by_vector(
        self, org: int, name: str, probe: dict[str, Any], max_faces: int, threshold: float
    ) -> dict[str, Any]:
        with self.sessions() as s:
            c = find_collection(s, org, name)
            return {
                "SearchedFaceBoundingBox": probe["detail"]["BoundingBox"],
                "SearchedFaceConfidence": probe["detail"]["Confidence"],
                "FaceMatches": _face_matches(
                    self._matches(s, c, probe["vector"], max_faces, threshold)
                ),
                "FaceModelVersion": c.face_model_version,
            }

    def _user_matches(
        self,
        s: Session,
        c: Collection,
        vectors: Iterable[np.ndarray],
        max_users: int,
        threshold: float,
        exclude_user: int | None = None,
    ) -> list[dict[str, Any]]:
        """Users whose faces match any of ``vectors``; a user's similarity is its best face's."""
        best: dict[int, tuple[float, User]] = {}
        for vector in vectors:
            for face, _, sim in self._matches(s, c, vector, USER_CANDIDATES, threshold):
                if face.user_id is None or face.user_id == exclude_user:
                    continue
                if face.user_id not in best or best[face.user_id][0] < sim:
                    user = s.get(User, face.user_id)
                    assert user is not None
                    best[face.user_id] = (sim, user)
        ranked = sorted(best.values(), key=lambda pair: pair[0], reverse=True)[:max_users]
        return [
            {
                "Similarity": round(sim, 4),
                "User": {"UserId": u.name, "UserStatus": user_status(s, u)},
            }
            for sim, u in ranked
        ]

    def search_users(
        self,
        org: int,
        name: str,
        *,
        user_id: str | None,
        face_id: str | None,
        max_users: int,
        threshold: float,
    ) -> dict[str, Any]:
        if (user_id is None) == (face_id is None):
            raise InvalidParameterException("Give exactly one of UserId and FaceId.")
        with self.sessions() as s:
            c = find_collection(s, org, name)
            out: dict[str, Any] = {"FaceModelVersion": c.face_model_version}
            if user_id is not None:
                user = find_user(s, c, user_id)
                vectors = [
                    vector_from(f.vector)
                    for f in s.scalars(select(Face).where(Face.user_id == user.id))
                ]
                out["UserMatches"] = self._user_matches(
                    s, c, vectors, max_users, threshold, exclude_user=user.id
                )
                out["SearchedUser"] = {"UserId": user_id}
            else:
                face = _stored_face(s, c, face_id)
                if face is None:
                    raise InvalidParameterException(f"The face id {face_id} is not in {name}.")
                out["UserMatches"] = self._user_matches(
                    s, c, [vector_from(face.vector)], max_users, threshold
                )
                out["SearchedFace"] = {"FaceId": face_id}
            return out

    def search_users_by_vector(
        self, org: int, name: str, probe: dict[str, Any], max_users: int, threshold: float
    ) -> dict[str, Any]:
        with self.sessions() as s:
            c = find_collection(s, org, name)
            return {
                "UserMatches": self._user_matches(s, c, [probe["vector"]], max_users, threshold),
                "FaceModelVersion": c.face_model_version,
                "SearchedFace": {"FaceDetail": probe["detail"]},
                "UnsearchedFaces": probe["unsearched"],
            }

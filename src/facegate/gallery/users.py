"""Users of a collection: create, delete, list, and which faces belong to them."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from facegate.audit.log import Record
from facegate.db import utcnow
from facegate.errors import ConflictException, ServiceQuotaExceededException
from facegate.gallery.core import (
    GalleryCore,
    find_collection,
    find_user,
    unsuccessful,
    user_status,
)
from facegate.gallery.indexes import vector_from
from facegate.gallery.tables import Collection, Face, User

MAX_FACES_PER_USER = 100


def _faces_by_id(s: Session, c: Collection, face_ids: list[str]) -> dict[str, Face]:
    query = select(Face).where(Face.collection_id == c.id, Face.face_id.in_(face_ids))
    return {f.face_id: f for f in s.scalars(query)}


def _recorded(s: Session, user: User, record: Record, out: dict[str, Any]) -> dict[str, Any]:
    """The answer of a change to ``user``'s faces, with the user's status, recorded in ``s``."""
    s.flush()
    out["UserStatus"] = user_status(s, user)
    record(s, out)
    return out


class UserOperations(GalleryCore):
    def create_user(self, org: int, name: str, user_id: str, record: Record) -> dict[str, Any]:
        try:
            with self.sessions.begin() as s:
                c = find_collection(s, org, name)
                s.add(User(collection_id=c.id, name=user_id, created_at=utcnow()))
                s.flush()
                record(s, {})
        except IntegrityError:
            raise ConflictException(
                f"A user with the id {user_id} already exists in collection {name}."
            ) from None
        return {}

    def delete_user(self, org: int, name: str, user_id: str, record: Record) -> dict[str, Any]:
        with self.sessions.begin() as s:
            c = find_collection(s, org, name)
            user = find_user(s, c, user_id)
            for face in s.scalars(select(Face).where(Face.user_id == user.id)):
                face.user_id = None  # DeleteUser first disassociates the user's faces
            s.delete(user)
            s.flush()
            record(s, {})
        return {}

    def list_users(self, org: int, name: str, max_results: int, token: str | None) -> dict:
        with self.sessions() as s:
            c = find_collection(s, org, name)
            scope = {"org": org, "c": c.id, "list": "users"}
            after = int(self.tokens.read(token, scope)) if token else 0
            rows = s.scalars(
                select(User)
                .where(User.collection_id == c.id, User.id > after)
                .order_by(User.id)
                .limit(max_results + 1)
            ).all()
            page = rows[:max_results]
            out: dict[str, Any] = {
                "Users": [{"UserId": u.name, "UserStatus": user_status(s, u)} for u in page]
            }
        if len(rows) > max_results:
            out["NextToken"] = self.tokens.issue(scope, page[-1].id)
        return out

    def associate_faces(
        self,
        org: int,
        name: str,
        user_id: str,
        face_ids: list[str],
        threshold: float,
        record: Record,
    ) -> dict[str, Any]:
        with self.sessions.begin() as s:
            c = find_collection(s, org, name)
            user = find_user(s, c, user_id)
            faces = _faces_by_id(s, c, face_ids)
            current = s.scalars(select(Face).where(Face.user_id == user.id)).all()
            # Each new face is checked against every face the user has, including the ones
            # this call has just associated.
            known = [vector_from(f.vector) for f in current]
            owners = dict(
                s.execute(
                    select(Face.face_id, User.name)
                    .join(User, Face.user_id == User.id)
                    .where(Face.face_id.in_(face_ids))
                ).all()
            )
            associated, failed = [], []
            count = len(current)
            for face_id in dict.fromkeys(face_ids):
                face = faces.get(face_id)
                if face is None:
                    failed.append(unsuccessful(face_id, user_id, ["FACE_NOT_FOUND"]))
                    continue
                if face.user_id == user.id:
                    associated.append({"FaceId": face_id})
                    continue
                if face.user_id is not None:
                    failed.append(
                        unsuccessful(
                            face_id, owners.get(face_id), ["ASSOCIATED_TO_A_DIFFERENT_USER"]
                        )
                    )
                    continue
                if known:
                    distances = np.linalg.norm(np.stack(known) - vector_from(face.vector), axis=1)
                    best = float(np.max(self.calibration.similarity(distances)))
                    if best < threshold:
                        failed.append(
                            {
                                **unsuccessful(face_id, user_id, ["LOW_MATCH_CONFIDENCE"]),
                                "Confidence": round(best, 4),
                            }
                        )
                        continue
                if count >= MAX_FACES_PER_USER:
                    raise ServiceQuotaExceededException(
                        f"User {user_id} already has {MAX_FACES_PER_USER} faces, the most a user "
                        "can have."
                    )
                face.user_id = user.id
                known.append(vector_from(face.vector))
                count += 1
                associated.append({"FaceId": face_id})
            return _recorded(
                s,
                user,
                record,
                {"AssociatedFaces": associated, "UnsuccessfulFaceAssociations": failed},
            )

    def disassociate_faces(
        self, org: int, name: str, user_id: str, face_ids: list[str], record: Record
    ) -> dict[str, Any]:
        with self.sessions.begin() as s:
            c = find_collection(s, org, name)
            user = find_user(s, c, user_id)
            faces = _faces_by_id(s, c, face_ids)
            done, failed = [], []
            for face_id in dict.fromkeys(face_ids):
                face = faces.get(face_id)
                if face is None:
                    failed.append(unsuccessful(face_id, user_id, ["FACE_NOT_FOUND"]))
                elif face.user_id != user.id:
                    failed.append(
                        unsuccessful(face_id, user_id, ["ASSOCIATED_TO_A_DIFFERENT_USER"])
                    )
                else:
                    face.user_id = None
                    done.append({"FaceId": face_id})
            return _recorded(
                s,
                user,
                record,
                {"DisassociatedFaces": done, "UnsuccessfulFaceDisassociations": failed},
            )

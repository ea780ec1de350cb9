"""Collections, faces and users of one organization, in Rekognition's shapes.

Every method takes the caller's organization id: a collection of another organization is
``ResourceNotFoundException``, exactly like one that does not exist, so existence never leaks.
Methods are synchronous (SQLAlchemy and FAISS); the service calls them from a thread.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from facegate.audit.log import Record
from facegate.auth.secrets import SecretBox
from facegate.errors import (
    ConflictException,
    InvalidParameterException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
)
from facegate.gallery.indexes import IndexRegistry, vector_bytes, vector_from
from facegate.gallery.tables import Collection, Face, FaceCrop, User
from facegate.gallery.tokens import TokenSigner
from facegate.vision.calibration import Calibration

MAX_FACES_PER_USER = 100
# Collection tags that set the ENROLLMENT-BASIS defaults of the collection's faces.
BASIS_TAG = "facegate:legal-basis"
PROVENANCE_TAG = "facegate:provenance"


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes: they were stored as UTC."""
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


def collection_arn(organization_id: int, name: str) -> str:
    return f"arn:facegate:rekognition:local:{organization_id:012d}:collection/{name}"


class Gallery:
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

    # --- collections -------------------------------------------------------------------------

    def _collection(self, s: Session, org: int, name: str) -> Collection:
        found = s.scalar(
            select(Collection).where(Collection.organization_id == org, Collection.name == name)
        )
        if found is None:
            raise ResourceNotFoundException(f"The collection id: {name} does not exist")
        return found

    def create_collection(
        self,
        org: int,
        name: str,
        tags: dict[str, str],
        *,
        keeps_review_crops: bool = False,
        record: Record | None = None,
    ) -> dict[str, Any]:
        """A new collection. The tags ``facegate:legal-basis`` and ``facegate:provenance`` set
        the ENROLLMENT-BASIS defaults of its faces."""
        out = {
            "StatusCode": 200,
            "CollectionArn": collection_arn(org, name),
            "FaceModelVersion": self.model_version,
        }
        try:
            with self.sessions.begin() as s:
                s.add(
                    Collection(
                        organization_id=org,
                        name=name,
                        face_model_version=self.model_version,
                        tags=json.dumps(tags),
                        legal_basis=tags.get(BASIS_TAG) or None,
                        provenance=tags.get(PROVENANCE_TAG) or None,
                        keeps_review_crops=keeps_review_crops,
                        created_at=_now(),
                    )
                )
                s.flush()  # a duplicate name fails here, before anything is recorded
                if record:
                    record(s, out)
        except IntegrityError:
            raise ResourceAlreadyExistsException(
                f"The collection id: {name} already exists"
            ) from None
        return out

    def describe_collection(self, org: int, name: str) -> dict[str, Any]:
        with self.sessions() as s:
            c = self._collection(s, org, name)
            faces = s.scalar(select(func.count()).where(Face.collection_id == c.id)) or 0
            users = s.scalar(select(func.count()).where(User.collection_id == c.id)) or 0
            return {
                "FaceCount": faces,
                "UserCount": users,
                "FaceModelVersion": c.face_model_version,
                "CollectionARN": collection_arn(org, name),
                "CreationTimestamp": c.created_at.timestamp(),
            }

    def list_collections(self, org: int, max_results: int, token: str | None) -> dict[str, Any]:
        scope = {"org": org, "list": "collections"}
        after = self.tokens.read(token, scope) if token else ""
        with self.sessions() as s:
            rows = s.scalars(
                select(Collection)
                .where(Collection.organization_id == org, Collection.name > after)
                .order_by(Collection.name)
                .limit(max_results + 1)
            ).all()
        page = rows[:max_results]
        out: dict[str, Any] = {
            "CollectionIds": [c.name for c in page],
            "FaceModelVersions": [c.face_model_version for c in page],
        }
        if len(rows) > max_results:
            out["NextToken"] = self.tokens.issue(scope, page[-1].name)
        return out

    def delete_collection(self, org: int, name: str, record: Record | None = None) -> dict:
        with self.sessions() as s:
            collection_id = self._collection(s, org, name).id
        # The collection's lock, then the transaction: the order every writer uses.
        with self.indexes.locked(collection_id), self.sessions.begin() as s:
            c = self._collection(s, org, name)
            if c.id != collection_id:  # deleted and made anew meanwhile: not ours to drop
                raise ResourceNotFoundException(f"The collection id: {name} does not exist")
            s.execute(delete(Face).where(Face.collection_id == collection_id))
            s.execute(delete(User).where(User.collection_id == collection_id))
            s.delete(c)
            s.flush()
            if record:
                record(s, {"StatusCode": 200})
        self.indexes.drop(collection_id)
        return {"StatusCode": 200}

    # --- faces -------------------------------------------------------------------------------

    def _face_record(self, f: Face, user: str | None) -> dict[str, Any]:
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

    def enrollment_defaults(self, org: int, name: str) -> tuple[str, str, bool]:
        """The collection's (legal basis, provenance, keeps review crops); not found raises."""
        with self.sessions() as s:
            c = self._collection(s, org, name)
            return c.legal_basis or "", c.provenance or "", c.keeps_review_crops

    def index_faces(
        self,
        org: int,
        name: str,
        *,
        image_sha256: str,
        external_image_id: str | None,
        indexed: list[dict[str, Any]],
        unindexed: list[dict[str, Any]],
        legal_basis: str | None = None,
        provenance: str | None = None,
        keep_crops: bool = False,
        use_case_id: int | None = None,
        delete_by: datetime | None = None,
        record: Record | None = None,
    ) -> dict[str, Any]:
        """Store the selected faces, unless this image was indexed with this ExternalImageId.

        With ``keep_crops`` each face's ``crop`` (JPEG) is stored sealed for reviewers, and
        the collection keeps crops from then on.
        """
        with self.sessions() as s:
            collection_id = self._collection(s, org, name).id
        with self.indexes.locked(collection_id):
            with self.sessions.begin() as s:
                existing = s.scalars(
                    select(Face)
                    .where(
                        Face.collection_id == collection_id,
                        Face.image_sha256 == image_sha256,
                        Face.external_image_id.is_(None)
                        if external_image_id is None
                        else Face.external_image_id == external_image_id,
                    )
                    .order_by(Face.row_id)
                ).all()
                if existing:  # the same image and label again: answer as the first time
                    records = [
                        {"Face": self._face_record(f, None), "FaceDetail": json.loads(f.detail)}
                        for f in existing
                    ]
                    return {
                        "FaceRecords": records,
                        "UnindexedFaces": unindexed,
                        "FaceModelVersion": self.model_version,
                    }
                image_id = str(uuid.uuid4())
                now = _now()
                rows = []
                for face in indexed:
                    box = face["detail"]["BoundingBox"]
                    rows.append(
                        Face(
                            face_id=str(uuid.uuid4()),
                            collection_id=collection_id,
                            image_id=image_id,
                            image_sha256=image_sha256,
                            external_image_id=external_image_id,
                            box_left=box["Left"],
                            box_top=box["Top"],
                            box_width=box["Width"],
                            box_height=box["Height"],
                            confidence=face["detail"]["Confidence"],
                            model_version=self.model_version,
                            vector=vector_bytes(face["vector"]),
                            detail=json.dumps(face["detail"]),
                            legal_basis=legal_basis,
                            provenance=provenance,
                            created_at=now,
                            last_interaction=now,
                            delete_by=delete_by,
                            use_case_id=use_case_id,
                        )
                    )
                s.add_all(rows)
                s.flush()
                if keep_crops and self.box is not None:
                    c = s.get(Collection, collection_id)
                    assert c is not None
                    c.keeps_review_crops = True
                    s.add_all(
                        FaceCrop(face_row_id=r.row_id, sealed=self.box.seal_bytes(f["crop"]))
                        for r, f in zip(rows, indexed, strict=True)
                        if f.get("crop")
                    )
                ids = [r.row_id for r in rows]
                records = [
                    {"Face": self._face_record(r, None), "FaceDetail": f["detail"]}
                    for r, f in zip(rows, indexed, strict=True)
                ]
                out = {
                    "FaceRecords": records,
                    "UnindexedFaces": unindexed,
                    "FaceModelVersion": self.model_version,
                }
                if record:
                    record(s, out)
            # Committed (acknowledged) here; the index follows under the same lock.
            if rows:
                self.indexes.added(
                    collection_id, ids, np.stack([np.asarray(f["vector"]) for f in indexed])
                )
        return out

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
            c = self._collection(s, org, name)
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
            "Faces": [self._face_record(f, u) for f, u in page],
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
            c = self._collection(s, org, name)
            faces = s.scalars(
                select(Face).where(Face.collection_id == c.id, Face.face_id.in_(face_ids))
            ).all()
        return {
            f.face_id: {
                "legal_basis": f.legal_basis,
                "provenance": f.provenance,
                "use_case_id": f.use_case_id,
                "enrolled": _utc(f.created_at),
                "last_interaction": _utc(f.last_interaction),
                "delete_by": _utc(f.delete_by),
            }
            for f in faces
        }

    def delete_faces(
        self, org: int, name: str, face_ids: list[str], record: Record | None = None
    ) -> dict[str, Any]:
        with self.sessions() as s:
            collection_id = self._collection(s, org, name).id
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
                if row_ids:
                    s.execute(delete(Face).where(Face.row_id.in_(row_ids)))
                out = {"DeletedFaces": deleted, "UnsuccessfulFaceDeletions": failed}
                if record and row_ids:
                    record(s, out)
            self.indexes.removed(collection_id, row_ids)
        return out

    # --- search ------------------------------------------------------------------------------

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
        found = [(f, u, wanted[f.row_id]) for f, u in rows]  # a deleted face is never returned
        found.sort(key=lambda m: m[2], reverse=True)
        return found[:k]

    def search_faces(
        self, org: int, name: str, face_id: str, max_faces: int, threshold: float
    ) -> dict[str, Any]:
        with self.sessions() as s:
            c = self._collection(s, org, name)
            face = s.scalar(select(Face).where(Face.collection_id == c.id, Face.face_id == face_id))
            if face is None:
                raise InvalidParameterException(
                    f"The face id {face_id} is not in collection {name}."
                )
            matches = self._matches(
                s, c, vector_from(face.vector), max_faces, threshold, exclude_row=face.row_id
            )
            return {
                "SearchedFaceId": face_id,
                "FaceMatches": [
                    {"Similarity": round(sim, 4), "Face": self._face_record(f, u)}
                    for f, u, sim in matches
                ],
                "FaceModelVersion": c.face_model_version,
            }

    def search_faces_by_vector(
        self, org: int, name: str, probe: dict[str, Any], max_faces: int, threshold: float
    ) -> dict[str, Any]:
        with self.sessions() as s:
            c = self._collection(s, org, name)
            matches = self._matches(s, c, probe["vector"], max_faces, threshold)
            return {
                "SearchedFaceBoundingBox": probe["detail"]["BoundingBox"],
                "SearchedFaceConfidence": probe["detail"]["Confidence"],
                "FaceMatches": [
                    {"Similarity": round(sim, 4), "Face": self._face_record(f, u)}
                    for f, u, sim in matches
                ],
                "FaceModelVersion": c.face_model_version,
            }

    def collection_exists(self, org: int, name: str) -> None:
        """Raise ResourceNotFoundException early (before any image is analysed)."""
        with self.sessions() as s:
            self._collection(s, org, name)

    # --- users -------------------------------------------------------------------------------

    def _user(self, s: Session, c: Collection, user_id: str) -> User:
        user = s.scalar(select(User).where(User.collection_id == c.id, User.name == user_id))
        if user is None:
            raise ResourceNotFoundException(f"The user id: {user_id} does not exist")
        return user

    @staticmethod
    def _faces_by_id(s: Session, c: Collection, face_ids: list[str]) -> dict[str, Face]:
        query = select(Face).where(Face.collection_id == c.id, Face.face_id.in_(face_ids))
        return {f.face_id: f for f in s.scalars(query)}

    @staticmethod
    def _status(s: Session, user: User) -> str:
        has_faces = s.scalar(select(Face.row_id).where(Face.user_id == user.id).limit(1))
        return "ACTIVE" if has_faces is not None else "CREATED"

    def create_user(
        self, org: int, name: str, user_id: str, record: Record | None = None
    ) -> dict[str, Any]:
        try:
            with self.sessions.begin() as s:
                c = self._collection(s, org, name)
                s.add(User(collection_id=c.id, name=user_id, created_at=_now()))
                s.flush()
                if record:
                    record(s, {})
        except IntegrityError:
            raise ConflictException(
                f"A user with the id {user_id} already exists in collection {name}."
            ) from None
        return {}

    def delete_user(
        self, org: int, name: str, user_id: str, record: Record | None = None
    ) -> dict[str, Any]:
        with self.sessions.begin() as s:
            c = self._collection(s, org, name)
            user = self._user(s, c, user_id)
            for face in s.scalars(select(Face).where(Face.user_id == user.id)):
                face.user_id = None  # DeleteUser first disassociates the user's faces
            s.delete(user)
            s.flush()
            if record:
                record(s, {})
        return {}

    def list_users(self, org: int, name: str, max_results: int, token: str | None) -> dict:
        with self.sessions() as s:
            c = self._collection(s, org, name)
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
                "Users": [{"UserId": u.name, "UserStatus": self._status(s, u)} for u in page]
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
        record: Record | None = None,
    ) -> dict[str, Any]:
        with self.sessions.begin() as s:
            c = self._collection(s, org, name)
            user = self._user(s, c, user_id)
            faces = self._faces_by_id(s, c, face_ids)
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
                    failed.append(_unsuccessful(face_id, user_id, ["FACE_NOT_FOUND"]))
                    continue
                if face.user_id == user.id:
                    associated.append({"FaceId": face_id})
                    continue
                if face.user_id is not None:
                    failed.append(
                        _unsuccessful(
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
                                **_unsuccessful(face_id, user_id, ["LOW_MATCH_CONFIDENCE"]),
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
            s.flush()
            out = {
                "AssociatedFaces": associated,
                "UnsuccessfulFaceAssociations": failed,
                "UserStatus": self._status(s, user),
            }
            if record:
                record(s, out)
            return out

    def disassociate_faces(
        self, org: int, name: str, user_id: str, face_ids: list[str], record: Record | None = None
    ) -> dict[str, Any]:
        with self.sessions.begin() as s:
            c = self._collection(s, org, name)
            user = self._user(s, c, user_id)
            faces = self._faces_by_id(s, c, face_ids)
            done, failed = [], []
            for face_id in dict.fromkeys(face_ids):
                face = faces.get(face_id)
                if face is None:
                    failed.append(_unsuccessful(face_id, user_id, ["FACE_NOT_FOUND"]))
                elif face.user_id != user.id:
                    failed.append(
                        _unsuccessful(face_id, user_id, ["ASSOCIATED_TO_A_DIFFERENT_USER"])
                    )
                else:
                    face.user_id = None
                    done.append({"FaceId": face_id})
            s.flush()
            out = {
                "DisassociatedFaces": done,
                "UnsuccessfulFaceDisassociations": failed,
                "UserStatus": self._status(s, user),
            }
            if record:
                record(s, out)
            return out

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
            for face, _, sim in self._matches(s, c, vector, 4096, threshold):
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
                "User": {"UserId": u.name, "UserStatus": self._status(s, u)},
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
            c = self._collection(s, org, name)
            out: dict[str, Any] = {"FaceModelVersion": c.face_model_version}
            if user_id is not None:
                user = self._user(s, c, user_id)
                vectors = [
                    vector_from(f.vector)
                    for f in s.scalars(select(Face).where(Face.user_id == user.id))
                ]
                out["UserMatches"] = self._user_matches(
                    s, c, vectors, max_users, threshold, exclude_user=user.id
                )
                out["SearchedUser"] = {"UserId": user_id}
            else:
                face = s.scalar(
                    select(Face).where(Face.collection_id == c.id, Face.face_id == face_id)
                )
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
            c = self._collection(s, org, name)
            return {
                "UserMatches": self._user_matches(s, c, [probe["vector"]], max_users, threshold),
                "FaceModelVersion": c.face_model_version,
                "SearchedFace": {"FaceDetail": probe["detail"]},
                "UnsearchedFaces": probe["unsearched"],
            }


def _unsuccessful(face_id: str, user_id: str | None, reasons: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"FaceId": face_id, "Reasons": reasons}
    if user_id is not None:
        out["UserId"] = user_id
    return out

"""Collections: create, describe, list, delete, and the enrollment defaults their tags set."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from facegate.audit.log import Record
from facegate.db import utcnow
from facegate.errors import ResourceAlreadyExistsException, ResourceNotFoundException
from facegate.gallery.core import GalleryCore, collection_arn, find_collection
from facegate.gallery.tables import Collection, Face, User

# Collection tags that set the ENROLLMENT-BASIS defaults of the collection's faces.
BASIS_TAG = "facegate:legal-basis"
PROVENANCE_TAG = "facegate:provenance"


class CollectionOperations(GalleryCore):
    def create_collection(
        self,
        org: int,
        name: str,
        tags: dict[str, str],
        *,
        keeps_review_crops: bool = False,
        record: Record,
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
                        created_at=utcnow(),
                    )
                )
                s.flush()  # a duplicate name fails here, before anything is recorded
                record(s, out)
        except IntegrityError:
            raise ResourceAlreadyExistsException(
                f"The collection id: {name} already exists"
            ) from None
        return out

    def describe_collection(self, org: int, name: str) -> dict[str, Any]:
        with self.sessions() as s:
            c = find_collection(s, org, name)
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

    def delete_collection(self, org: int, name: str, record: Record) -> dict:
        collection_id = self._collection_id(org, name)
        # The collection's lock, then the transaction: the order every writer uses.
        with self.indexes.locked(collection_id), self.sessions.begin() as s:
            c = find_collection(s, org, name)
            if c.id != collection_id:  # deleted and made anew meanwhile: not ours to drop
                raise ResourceNotFoundException(f"The collection id: {name} does not exist")
            s.execute(delete(Face).where(Face.collection_id == collection_id))
            s.execute(delete(User).where(User.collection_id == collection_id))
            s.delete(c)
            s.flush()
            record(s, {"StatusCode": 200})
        self.indexes.drop(collection_id)
        return {"StatusCode": 200}

    def enrollment_defaults(self, org: int, name: str) -> tuple[str, str, bool]:
        """The collection's (legal basis, provenance, keeps review crops); not found raises."""
        with self.sessions() as s:
            c = find_collection(s, org, name)
            return c.legal_basis or "", c.provenance or "", c.keeps_review_crops

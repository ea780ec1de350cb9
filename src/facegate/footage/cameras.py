"""Cameras: registered by their owners (or a community admin for an owner), seen by them.

Camera owners are members with the ``owner`` role of a ``community`` organization; each camera
belongs to one of them and has a name unique in its organization.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facegate.audit.log import Record
from facegate.errors import (
    InvalidParameterException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from facegate.footage.core import FootageCore
from facegate.footage.inputs import coordinates, text
from facegate.footage.tables import Camera
from facegate.footage.views import Viewer, camera_view
from facegate.policy.registry import Principal
from facegate.policy.tables import Member


class CameraOperations(FootageCore):
    def register_camera(
        self,
        caller: Principal,
        *,
        name: str,
        latitude: float,
        longitude: float,
        address: str = "",
        owner: str | None = None,
        record: Record,
    ) -> dict[str, Any]:
        """A camera of the caller's community organization, owned by ``owner`` (a member with
        the owner role; the caller when left out). Only admins register for someone else."""
        viewer = Viewer.of(caller)
        name = text(name, "The camera's Name", 128)
        lat, lon = coordinates(latitude, longitude)
        if len(address or "") > 256:
            raise InvalidParameterException("The Address is longer than 256 characters.")
        with self.sessions.begin() as s:
            member = self._owner(s, caller, viewer, owner)
            taken = s.scalar(
                select(Camera.id).where(
                    Camera.organization_id == caller.organization_id, Camera.name == name
                )
            )
            if taken is not None:
                raise ResourceAlreadyExistsException(
                    f"Your organization already has a camera named {name!r}."
                )
            camera = Camera(
                organization_id=caller.organization_id,
                owner_id=member.id,
                name=name,
                latitude=lat,
                longitude=lon,
                address=(address or "").strip(),
                registered_at=self.clock(),
                registered_by=caller.holder,
            )
            s.add(camera)
            s.flush()
            out = camera_view(camera, member.name)
            record(s, out)
            return out

    @staticmethod
    def _owner(s: Session, caller: Principal, viewer: Viewer, owner: str | None) -> Member:
        """The member a new camera belongs to, if the caller may register it for them."""
        if owner:
            member = s.scalar(
                select(Member).where(
                    Member.organization_id == caller.organization_id, Member.name == owner
                )
            )
            if member is None:
                raise ResourceNotFoundException(f"No member {owner!r} in your organization.")
        else:
            member = s.get(Member, viewer.member_id) if viewer.member_id else None
            if member is None:
                raise InvalidParameterException(
                    "Name the camera's Owner: this key is not held by a member."
                )
        if member.id != viewer.member_id and not viewer.admin:
            raise InvalidParameterException(
                "Owners register their own cameras; an admin registers them for others."
            )
        if "owner" not in json.loads(member.roles):
            raise InvalidParameterException(
                f"{member.name} does not have the owner role; cameras belong to owners."
            )
        return member

    def cameras(self, caller: Principal) -> list[dict[str, Any]]:
        """An owner's cameras; all of the organization's for its admins."""
        with self.sessions() as s:
            rows = s.execute(
                select(Camera, Member.name)
                .join(Member, Camera.owner_id == Member.id)
                .where(Viewer.of(caller).cameras())
                .order_by(Camera.id)
            )
            return [camera_view(camera, owner) for camera, owner in rows]

"""Agencies' footage requests: made for one window, from named cameras or from every camera
within a radius of a point (chosen when the request is made), seen by each side as
:mod:`facegate.footage.views` says, and closed by the agency (nothing is decided or shared
for a closed request).

Tenancy is in every query: a request the caller may not see is "not found".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from facegate.audit.log import Record
from facegate.errors import (
    ConflictException,
    InvalidParameterException,
    ResourceNotFoundException,
)
from facegate.footage import inputs
from facegate.footage.core import FootageCore
from facegate.footage.geometry import Area, distance_m, latitude_span
from facegate.footage.tables import Camera, FootageConsent, FootageRequest
from facegate.footage.views import COMMUNITY, Viewer, agency_view, community_view
from facegate.gallery.tables import Organization
from facegate.policy.registry import Principal
from facegate.policy.tables import Member
from facegate.video.store import view as video_view
from facegate.video.tables import Video


class RequestOperations(FootageCore):
    def create_request(
        self,
        caller: Principal,
        *,
        incident: str,
        reason: str,
        window_start: datetime,
        window_end: datetime,
        camera_ids: Iterable[int] | None = None,
        area: Area | None = None,
        record: Record,
    ) -> dict[str, Any]:
        """An agency's request for the window, to the named cameras or those in the area
        (exactly one of the two)."""
        incident = inputs.text(incident, "The IncidentReference", 256)
        reason = inputs.text(reason, "The Reason", 2000)
        now = self.clock()
        start, end = inputs.window(window_start, window_end, now)
        if (camera_ids is None) == (area is None):
            raise InvalidParameterException("Name either CameraIds or an Area, not both.")
        with self.sessions.begin() as s:
            chosen = in_area(s, area) if area is not None else named(s, camera_ids or [])
            r = FootageRequest(
                organization_id=caller.organization_id,
                requested_by=caller.holder,
                incident=incident,
                reason=reason,
                window_start=start,
                window_end=end,
                latitude=area.latitude if area else None,
                longitude=area.longitude if area else None,
                radius_m=area.radius_m if area else None,
                status="open",
                created_at=now,
            )
            s.add(r)
            s.flush()
            s.add_all(FootageConsent(request_id=r.id, camera_id=c, shared=0) for c in chosen)
            s.flush()
            out = agency_view(r, ["pending"] * len(chosen), [])
            record(s, out)
            return out

    def requests(self, caller: Principal) -> list[dict[str, Any]]:
        """The caller's side of every request it may see, newest first."""
        viewer = Viewer.of(caller)
        with self.sessions() as s:
            if not viewer.community:
                rows = s.scalars(
                    select(FootageRequest)
                    .where(FootageRequest.organization_id == caller.organization_id)
                    .order_by(FootageRequest.id.desc())
                ).all()
                return [agency(s, r, with_footage=False) for r in rows]
            visible = exists().where(
                FootageConsent.request_id == FootageRequest.id,
                FootageConsent.camera_id == Camera.id,
                viewer.cameras(),
            )
            rows = s.scalars(
                select(FootageRequest).where(visible).order_by(FootageRequest.id.desc())
            ).all()
            return [community(s, r, viewer) for r in rows]

    def request(self, caller: Principal, request_id: int) -> dict[str, Any]:
        """One request as the caller's side sees it; not found when it is not theirs to see."""
        viewer = Viewer.of(caller)
        with self.sessions() as s:
            r = s.get(FootageRequest, request_id)
            if r is None:
                pass
            elif not viewer.community and r.organization_id == caller.organization_id:
                return agency(s, r, with_footage=True)
            elif viewer.community:
                shown = community(s, r, viewer)
                if shown["Cameras"]:  # it includes a camera the caller may see
                    return shown
            raise ResourceNotFoundException(f"No footage request {request_id} for you.")

    def close(self, caller: Principal, request_id: int, record: Record) -> dict[str, Any]:
        """The agency closes its request: nothing is decided or shared for it afterwards."""
        with self.sessions.begin() as s:
            r = own_request(s, caller, request_id)
            if r.status != "open":
                raise ConflictException(f"Footage request {request_id} is already closed.")
            r.status, r.closed_at, r.closed_by = "closed", self.clock(), caller.holder
            s.flush()
            out = agency(s, r, with_footage=True)
            record(s, out)
            return out


def in_area(s: Session, area: Area) -> list[int]:
    """The community cameras within the area, or a refusal when there is none."""
    lat, lon = inputs.circle(area)
    dlat = latitude_span(area.radius_m)  # narrows the scan; the haversine distance decides
    candidates = s.execute(
        select(Camera.id, Camera.latitude, Camera.longitude)
        .join(Organization, Camera.organization_id == Organization.id)
        .where(
            Organization.sector == COMMUNITY,
            Camera.latitude.between(lat - dlat, lat + dlat),
        )
        .order_by(Camera.id)
    )
    chosen = [
        cid for cid, clat, clon in candidates if distance_m(lat, lon, clat, clon) <= area.radius_m
    ]
    if not chosen:
        raise InvalidParameterException(
            f"No registered camera lies within {area.radius_m:g} m of the point."
        )
    return chosen


def named(s: Session, camera_ids: Iterable[int]) -> list[int]:
    """The named community cameras, each once; not found when one does not exist."""
    wanted = inputs.camera_ids(camera_ids)
    found = set(
        s.scalars(
            select(Camera.id)
            .join(Organization, Camera.organization_id == Organization.id)
            .where(Camera.id.in_(wanted), Organization.sector == COMMUNITY)
        )
    )
    missing = [c for c in wanted if c not in found]
    if missing:
        raise ResourceNotFoundException(f"No camera {missing[0]}.")
    return wanted


def own_request(s: Session, caller: Principal, request_id: int) -> FootageRequest:
    """A request of the caller's organization, or not found."""
    r = s.get(FootageRequest, request_id)
    if r is None or r.organization_id != caller.organization_id:
        raise ResourceNotFoundException(f"No footage request {request_id} for you.")
    return r


def agency(s: Session, r: FootageRequest, *, with_footage: bool) -> dict[str, Any]:
    """The agency's view of its request (with the videos shared for it, if asked)."""
    statuses = list(
        s.scalars(select(FootageConsent.status).where(FootageConsent.request_id == r.id))
    )
    footage = None
    if with_footage:
        footage = [
            video_view(v)
            for v in s.scalars(
                select(Video)
                .where(
                    Video.footage_request_id == r.id,
                    Video.organization_id == r.organization_id,
                )
                .order_by(Video.recorded_from, Video.added_at)
            )
        ]
    return agency_view(r, statuses, footage)


def community(s: Session, r: FootageRequest, viewer: Viewer) -> dict[str, Any]:
    """An owner's or community admin's view of a request (the cameras they may see)."""
    agency_row = s.get(Organization, r.organization_id)
    rows = s.execute(
        select(Camera, Member.name, FootageConsent)
        .join(FootageConsent, FootageConsent.camera_id == Camera.id)
        .join(Member, Camera.owner_id == Member.id)
        .where(FootageConsent.request_id == r.id, viewer.cameras())
        .order_by(Camera.id)
    ).all()
    cameras = [(camera, owner, consent) for camera, owner, consent in rows]
    return community_view(r, agency_row.name if agency_row else "", cameras, viewer.member_id)

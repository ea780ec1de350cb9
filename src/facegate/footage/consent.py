"""Cameras, agencies' footage requests and owners' decisions (FOOTAGE-CONSENT).

Camera owners are members with the ``owner`` role of a ``community`` organization; each camera
belongs to one of them. An agency (any other sector) asks for footage of one time window from
named cameras or from every camera within a radius of a point (chosen when the request is
made). Each owner approves or declines the request for each of their cameras, and can revoke
an approval until footage of that camera has been shared for the request: once shared, the
approval is used. The agency may close its request; nothing is decided or shared after that.

Who sees what is in :mod:`facegate.footage.views`; tenancy is in every query: a camera or a
request the caller may not see is "not found". The policies (``FOOTAGE-CONSENT.*``) decide who
may act; what may be shared is decided on :meth:`Footage.facts`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, false, select, update
from sqlalchemy.orm import Session, sessionmaker

from facegate.audit.log import Record
from facegate.db import aware, utcnow
from facegate.errors import (
    ConflictException,
    InvalidParameterException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from facegate.footage.tables import Camera, FootageConsent, FootageRequest
from facegate.footage.views import agency_view, camera_view, community_view
from facegate.gallery.tables import Organization
from facegate.policy.point import FootageFacts
from facegate.policy.registry import Principal
from facegate.policy.tables import Member
from facegate.video.store import view as video_view
from facegate.video.tables import Video

# How much a request may ask for: one window of at most a day, in the past (footage that is
# not recorded yet would be surveillance, not a request for evidence), from at most this many
# named cameras, or from a circle of this radius.
MAX_WINDOW = timedelta(hours=24)
MAX_CAMERAS = 100
MIN_RADIUS_M, MAX_RADIUS_M = 50.0, 5000.0
EARTH_RADIUS_M = 6_371_008.8
# A decision's allowed starting states and its result.
TRANSITIONS = {
    "approve": (("pending", "declined", "revoked"), "approved"),
    "decline": (("pending",), "declined"),
    "revoke": (("approved",), "revoked"),
}
COMMUNITY = "community"


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _text(value: str | None, what: str, limit: int) -> str:
    if value is None or not str(value).strip():
        raise InvalidParameterException(f"{what} is required and cannot be empty.")
    if len(value) > limit:
        raise InvalidParameterException(f"{what} is longer than {limit} characters.")
    return str(value).strip()


def _coordinates(latitude: float, longitude: float) -> tuple[float, float]:
    try:
        lat, lon = float(latitude), float(longitude)
    except (TypeError, ValueError):
        raise InvalidParameterException("Latitude and Longitude must be numbers.") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidParameterException(
            "Latitude must be from -90 to 90 and Longitude from -180 to 180 (degrees, WGS 84)."
        )
    return lat, lon


@dataclass(frozen=True)
class Area:
    latitude: float
    longitude: float
    radius_m: float


@dataclass(frozen=True)
class Viewer:
    """The caller as footage sharing sees them."""

    organization_id: int
    community: bool
    member_id: int | None
    owner: bool
    admin: bool

    @classmethod
    def of(cls, caller: Principal) -> Viewer:
        kind, _, ident = caller.holder.partition(":")
        return cls(
            organization_id=caller.organization_id,
            community=caller.sector == COMMUNITY,
            member_id=int(ident) if kind == "member" and ident.isdigit() else None,
            owner="owner" in caller.roles,
            admin="admin" in caller.roles,
        )

    def cameras(self) -> Any:
        """The SQL condition for the cameras this viewer may see."""
        mine = Camera.organization_id == self.organization_id
        if self.community and self.admin:
            return mine
        if self.community and self.owner and self.member_id is not None:
            return and_(mine, Camera.owner_id == self.member_id)
        return false()  # agencies, and community members who neither own nor administer


class Footage:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime] = utcnow):
        self.sessions = sessions
        self.clock = clock

    # --- cameras -----------------------------------------------------------------------------

    def register_camera(
        self,
        caller: Principal,
        *,
        name: str,
        latitude: float,
        longitude: float,
        address: str = "",
        owner: str | None = None,
        record: Record | None = None,
    ) -> dict[str, Any]:
        """A camera of the caller's community organization, owned by ``owner`` (a member with
        the owner role; the caller when left out). Only admins register for someone else."""
        viewer = Viewer.of(caller)
        name = _text(name, "The camera's Name", 128)
        lat, lon = _coordinates(latitude, longitude)
        if len(address or "") > 256:
            raise InvalidParameterException("The Address is longer than 256 characters.")
        with self.sessions.begin() as s:
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
            if record is not None:
                record(s, out)
            return out

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

    # --- requests ----------------------------------------------------------------------------

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
        record: Record | None = None,
    ) -> dict[str, Any]:
        """An agency's request for the window, to the named cameras or those in the area."""
        incident = _text(incident, "The IncidentReference", 256)
        reason = _text(reason, "The Reason", 2000)
        start, end = aware(window_start), aware(window_end)
        now = self.clock()
        if end <= start:
            raise InvalidParameterException("WindowEnd must be later than WindowStart.")
        if end - start > MAX_WINDOW:
            raise InvalidParameterException(
                f"A request covers at most {MAX_WINDOW.total_seconds() / 3600:g} hours of "
                "footage; make the window narrower."
            )
        if end > now:
            raise InvalidParameterException(
                "WindowEnd is in the future: only footage already recorded can be requested."
            )
        if (camera_ids is None) == (area is None):
            raise InvalidParameterException("Name either CameraIds or an Area, not both.")
        with self.sessions.begin() as s:
            if area is not None:
                chosen = self._in_area(s, area)
            else:
                chosen = self._named(s, camera_ids or [])
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
            if record is not None:
                record(s, out)
            return out

    @staticmethod
    def _in_area(s: Session, area: Area) -> list[int]:
        lat, lon = _coordinates(area.latitude, area.longitude)
        if not MIN_RADIUS_M <= area.radius_m <= MAX_RADIUS_M:
            raise InvalidParameterException(
                f"RadiusMeters must be from {MIN_RADIUS_M:g} to {MAX_RADIUS_M:g}."
            )
        # A box around the circle narrows the scan; the haversine distance decides.
        dlat = math.degrees(area.radius_m / EARTH_RADIUS_M)
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
            cid
            for cid, clat, clon in candidates
            if distance_m(lat, lon, clat, clon) <= area.radius_m
        ]
        if not chosen:
            raise InvalidParameterException(
                f"No registered camera lies within {area.radius_m:g} m of the point."
            )
        return chosen

    @staticmethod
    def _named(s: Session, camera_ids: Iterable[int]) -> list[int]:
        wanted = list(dict.fromkeys(int(c) for c in camera_ids))
        if not wanted or len(wanted) > MAX_CAMERAS:
            raise InvalidParameterException(f"Name 1 to {MAX_CAMERAS} CameraIds.")
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
                return [self._agency(s, r, with_footage=False) for r in rows]
            visible = exists().where(
                FootageConsent.request_id == FootageRequest.id,
                FootageConsent.camera_id == Camera.id,
                viewer.cameras(),
            )
            rows = s.scalars(
                select(FootageRequest).where(visible).order_by(FootageRequest.id.desc())
            ).all()
            return [self._community(s, r, viewer) for r in rows]

    def request(self, caller: Principal, request_id: int) -> dict[str, Any]:
        """One request as the caller's side sees it; not found when it is not theirs to see."""
        viewer = Viewer.of(caller)
        with self.sessions() as s:
            r = s.get(FootageRequest, request_id)
            if r is None:
                pass
            elif not viewer.community and r.organization_id == caller.organization_id:
                return self._agency(s, r, with_footage=True)
            elif viewer.community:
                shown = self._community(s, r, viewer)
                if shown["Cameras"]:  # it includes a camera the caller may see
                    return shown
            raise ResourceNotFoundException(f"No footage request {request_id} for you.")

    def close(self, caller: Principal, request_id: int, record: Record | None = None) -> dict:
        """The agency closes its request: nothing is decided or shared for it afterwards."""
        with self.sessions.begin() as s:
            r = self._own_request(s, caller, request_id)
            if r.status != "open":
                raise ConflictException(f"Footage request {request_id} is already closed.")
            r.status, r.closed_at, r.closed_by = "closed", self.clock(), caller.holder
            s.flush()
            out = self._agency(s, r, with_footage=True)
            if record is not None:
                record(s, out)
            return out

    @staticmethod
    def _own_request(s: Session, caller: Principal, request_id: int) -> FootageRequest:
        r = s.get(FootageRequest, request_id)
        if r is None or r.organization_id != caller.organization_id:
            raise ResourceNotFoundException(f"No footage request {request_id} for you.")
        return r

    def _agency(self, s: Session, r: FootageRequest, *, with_footage: bool) -> dict[str, Any]:
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

    @staticmethod
    def _community(s: Session, r: FootageRequest, viewer: Viewer) -> dict[str, Any]:
        agency = s.get(Organization, r.organization_id)
        rows = s.execute(
            select(Camera, Member.name, FootageConsent)
            .join(FootageConsent, FootageConsent.camera_id == Camera.id)
            .join(Member, Camera.owner_id == Member.id)
            .where(FootageConsent.request_id == r.id, viewer.cameras())
            .order_by(Camera.id)
        ).all()
        return community_view(
            r, agency.name if agency else "", [tuple(row) for row in rows], viewer.member_id
        )

    # --- owners' decisions -------------------------------------------------------------------

    def decide(
        self,
        caller: Principal,
        request_id: int,
        decision: str,
        camera_ids: Iterable[int] | None = None,
        record: Record | None = None,
    ) -> dict[str, Any]:
        """Approve, decline or revoke the request for the caller's own cameras in it (all of
        those whose state allows it, or the ones named). All or nothing."""
        decision = (decision or "").strip().lower()
        if decision not in TRANSITIONS:
            raise InvalidParameterException("The Decision is APPROVE, DECLINE or REVOKE.")
        before, after = TRANSITIONS[decision]
        viewer = Viewer.of(caller)
        now = self.clock()
        with self.sessions.begin() as s:
            r = s.get(FootageRequest, request_id)
            own = {}
            if r is not None and viewer.member_id is not None:
                own = {
                    consent.camera_id: consent
                    for consent in s.scalars(
                        select(FootageConsent)
                        .join(Camera, FootageConsent.camera_id == Camera.id)
                        .where(
                            FootageConsent.request_id == request_id,
                            Camera.organization_id == caller.organization_id,
                            Camera.owner_id == viewer.member_id,
                        )
                    )
                }
            if r is None or not own:
                raise ResourceNotFoundException(
                    f"No footage request {request_id} for your cameras."
                )
            if r.status != "open":
                raise ConflictException(f"Footage request {request_id} is closed.")
            chosen = self._chosen(own, camera_ids, before, decision)
            unchanged = [
                FootageConsent.request_id == request_id,
                FootageConsent.camera_id.in_(chosen),
                FootageConsent.status.in_(before),
            ]
            if decision == "revoke":  # until footage is shared: then the approval is used
                unchanged.append(FootageConsent.shared == 0)
            changed = s.execute(
                update(FootageConsent)
                .where(*unchanged)
                .values(status=after, decided_at=now, decided_by=caller.holder)
                .execution_options(synchronize_session=False)
            ).rowcount
            if changed != len(chosen):  # footage was shared (or decided) meanwhile
                raise ConflictException(
                    "A camera's state changed while deciding (footage was shared for it); "
                    "nothing was changed. Look at the request again."
                )
            s.expire_all()
            out = self._community(s, r, viewer)
            out["Decision"] = after
            out["DecidedCameraIds"] = chosen
            if record is not None:
                record(s, out)
            return out

    @staticmethod
    def _chosen(
        own: dict[int, FootageConsent],
        camera_ids: Iterable[int] | None,
        before: tuple[str, ...],
        decision: str,
    ) -> list[int]:
        def allowed(c: FootageConsent) -> bool:
            return c.status in before and not (decision == "revoke" and c.shared)

        if camera_ids is None:
            chosen = [cid for cid, c in sorted(own.items()) if allowed(c)]
            if not chosen:
                raise ConflictException(
                    f"None of your cameras in this request can be {decision}d: "
                    + ", ".join(f"{cid} is {c.status}" for cid, c in sorted(own.items()))
                    + (
                        ". An approval with shared footage is used and cannot be revoked."
                        if decision == "revoke"
                        else "."
                    )
                )
            return chosen
        chosen = list(dict.fromkeys(int(c) for c in camera_ids))
        if not chosen:
            raise InvalidParameterException("CameraIds, when given, names at least one camera.")
        for cid in chosen:
            c = own.get(cid)
            if c is None:
                raise ResourceNotFoundException(f"Camera {cid} is not yours in this request.")
            if c.shared and decision == "revoke":
                raise ConflictException(
                    f"Camera {cid}'s approval is used: footage was shared for this request, "
                    "so it can no longer be revoked."
                )
            if not allowed(c):
                raise ConflictException(f"Camera {cid} is {c.status}; it cannot be {decision}d.")
        return chosen

    # --- sharing -----------------------------------------------------------------------------

    def facts(
        self,
        caller: Principal,
        request_id: int,
        camera_id: int,
        recorded_from: datetime,
        recorded_to: datetime | None = None,
        *,
        session: Session | None = None,
    ) -> tuple[FootageFacts, int | None]:
        """What FOOTAGE-CONSENT decides a share on, and the agency's organization id (None
        when the caller has no camera in the request: the request is not theirs to see).

        In ``session`` (the share's own transaction), the rows are read locked (PostgreSQL)
        so that a revocation or a closing cannot slip in before the share commits.
        """
        start = aware(recorded_from)
        end = aware(recorded_to) if recorded_to is not None else start
        if session is None:
            with self.sessions() as s:
                return self._facts(s, caller, request_id, camera_id, start, end, lock=False)
        return self._facts(session, caller, request_id, camera_id, start, end, lock=True)

    @staticmethod
    def _facts(
        s: Session,
        caller: Principal,
        request_id: int,
        camera_id: int,
        start: datetime,
        end: datetime,
        *,
        lock: bool,
    ) -> tuple[FootageFacts, int | None]:
        viewer = Viewer.of(caller)
        query = select(FootageRequest).where(FootageRequest.id == request_id)
        r = s.scalar(query.with_for_update() if lock else query)
        visible = r is not None and s.scalar(
            select(
                exists().where(
                    FootageConsent.request_id == request_id,
                    FootageConsent.camera_id == Camera.id,
                    viewer.cameras(),
                )
            )
        )
        if r is None or not visible:
            return FootageFacts(False, "none", False, start, start, start, end), None
        camera = s.get(Camera, camera_id)
        owner = (
            camera is not None
            and camera.organization_id == caller.organization_id
            and viewer.member_id is not None
            and camera.owner_id == viewer.member_id
        )
        consent = "none"
        if owner:  # another owner's decision is not read for this caller
            query = select(FootageConsent).where(
                FootageConsent.request_id == request_id, FootageConsent.camera_id == camera_id
            )
            row = s.scalar(query.with_for_update() if lock else query)
            consent = row.status if row is not None else "none"
        facts = FootageFacts(
            owner=owner,
            consent=consent,
            request_open=r.status == "open",
            window_start=aware(r.window_start),
            window_end=aware(r.window_end),
            recorded_from=start,
            recorded_to=end,
        )
        return facts, r.organization_id

    @staticmethod
    def claim(s: Session, request_id: int, camera_id: int) -> None:
        """Count a shared video against the approval, in the share's transaction: from now on
        the approval is used and cannot be revoked."""
        counted = s.execute(
            update(FootageConsent)
            .where(
                FootageConsent.request_id == request_id,
                FootageConsent.camera_id == camera_id,
                FootageConsent.status == "approved",
            )
            .values(shared=FootageConsent.shared + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        if counted != 1:
            raise ConflictException("The approval changed while the footage was received.")

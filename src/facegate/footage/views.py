"""What each side sees of cameras and footage requests.

An agency sees its own requests: what it asked, how many cameras were asked and how many of
them are pending, approved, declined or revoked, and the videos shared with it. Never which
camera or owner declined, revoked or has not answered.

A camera owner sees the requests that include one of their cameras, and for those cameras
their own decision. A community organization's admin sees the requests that include one of
the organization's cameras, and which cameras those are, but not the owners' decisions. Nobody
sees another owner's decision. Which cameras a caller may see at all is :class:`Viewer`'s.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, false

from facegate.footage.tables import CONSENT_STATUSES, Camera, FootageConsent, FootageRequest
from facegate.policy.registry import Principal

COMMUNITY = "community"  # the sector of camera owners' organizations


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


def iso(moment: datetime | None) -> str | None:
    """An instant as ISO 8601 in UTC (SQLite hands back naive datetimes: they are UTC)."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def camera_view(camera: Camera, owner: str) -> dict[str, Any]:
    return {
        "CameraId": camera.id,
        "Name": camera.name,
        "Latitude": camera.latitude,
        "Longitude": camera.longitude,
        "Address": camera.address,
        "Owner": owner,
        "RegisteredAt": iso(camera.registered_at),
    }


def _request_fields(r: FootageRequest) -> dict[str, Any]:
    return {
        "FootageRequestId": r.id,
        "Status": r.status,
        "IncidentReference": r.incident,
        "Reason": r.reason,
        "WindowStart": iso(r.window_start),
        "WindowEnd": iso(r.window_end),
        "CreatedAt": iso(r.created_at),
        "ClosedAt": iso(r.closed_at),
    }


def agency_view(
    r: FootageRequest, statuses: list[str], footage: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The requesting agency's view: counts of the cameras' answers, the shared videos."""
    counted = Counter(statuses)
    out = _request_fields(r)
    if r.radius_m is not None:
        out["Area"] = {
            "Latitude": r.latitude,
            "Longitude": r.longitude,
            "RadiusMeters": r.radius_m,
        }
    out["Cameras"] = {
        "Asked": len(statuses),
        **{status.title(): counted[status] for status in CONSENT_STATUSES},
    }
    if footage is not None:
        out["Footage"] = footage
    return out


def community_view(
    r: FootageRequest,
    agency: str,
    cameras: list[tuple[Camera, str, FootageConsent]],
    member_id: int | None,
) -> dict[str, Any]:
    """A camera owner's or community admin's view: the visible cameras of the request; the
    decision only of the cameras the viewer owns."""
    out = {**_request_fields(r), "Agency": agency}
    listed = []
    for camera, owner, consent in cameras:
        item: dict[str, Any] = {"CameraId": camera.id, "Name": camera.name, "Owner": owner}
        if camera.owner_id == member_id:
            item["Decision"] = consent.status
            item["DecidedAt"] = iso(consent.decided_at)
            item["SharedVideos"] = consent.shared
        listed.append(item)
    out["Cameras"] = listed
    return out

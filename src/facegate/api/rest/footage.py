"""Footage sharing on the REST door (FOOTAGE-CONSENT): ``/v1/cameras``, ``/v1/footage-requests``.

Camera owners (members with the ``owner`` role of a ``community`` organization) register their
cameras, see the requests for them, approve, decline or revoke, and share the footage of an
approved request: the raw video as the body, or a file of the video directory. Agencies make
requests for a time window, from named cameras or an area, see how many cameras answered what
and the videos shared with them, and close their requests. Every route asks the policies and
leaves one audit record (see :mod:`facegate.footage`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from facegate.actions import acting
from facegate.actions.administration import parse_instant
from facegate.api.rest.bodies import services_of
from facegate.api.rest.caller import CallerDep
from facegate.api.rest.errors import RestRoute
from facegate.api.rest.guard import guarded
from facegate.api.rest.openapi import CONFLICT, ERROR_RESPONSES, NOT_FOUND
from facegate.audit.log import Record, Recorder
from facegate.footage.geometry import Area
from facegate.footage.sharing import Add, Offer, share
from facegate.policy.registry import Principal

router = APIRouter(prefix="/v1", route_class=RestRoute, responses=ERROR_RESPONSES)
TAGS: list[str | Any] = ["footage"]
RequestId = Annotated[int, Path(description="The footage request's id.")]
VIDEO_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "video/mp4": {"schema": {"type": "string", "format": "binary"}},
            "video/quicktime": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


class NewCamera(BaseModel):
    Name: str = Field(min_length=1, max_length=128, description="Unique in your organization.")
    Latitude: float = Field(ge=-90, le=90, description="Degrees (WGS 84).")
    Longitude: float = Field(ge=-180, le=180, description="Degrees (WGS 84).")
    Address: str = Field(default="", max_length=256, description="Where it is, in words.")
    Owner: str | None = Field(
        default=None,
        description="The owning member (owner role). Default: you. Only admins name another.",
    )


class AreaBody(BaseModel):
    Latitude: float = Field(ge=-90, le=90)
    Longitude: float = Field(ge=-180, le=180)
    RadiusMeters: float = Field(description="From 50 to 5000 metres.")


class NewRequest(BaseModel):
    IncidentReference: str = Field(min_length=1, max_length=256)
    Reason: str = Field(min_length=1, max_length=2000, description="Shown to the owners.")
    WindowStart: str = Field(description="ISO 8601 (UTC unless an offset is given).")
    WindowEnd: str = Field(description="At most 24 hours after WindowStart, not in the future.")
    CameraIds: list[int] | None = Field(default=None, max_length=100)
    Area: AreaBody | None = Field(default=None, description="Instead of CameraIds.")


class DecisionBody(BaseModel):
    Decision: Literal["APPROVE", "DECLINE", "REVOKE", "approve", "decline", "revoke"]
    CameraIds: list[int] | None = Field(
        default=None,
        max_length=100,
        description="Your cameras to decide for; default: all of yours the decision applies to.",
    )


class LinkBody(BaseModel):
    CameraId: int
    RecordedFrom: str = Field(description="When the video starts (ISO 8601).")
    Path: str = Field(min_length=1, max_length=1024, description="Inside the video directory.")


async def _guarded(
    request: Request,
    caller: Principal,
    operation: str,
    work: Callable[[Recorder], Any],
    resource: str,
) -> Any:
    return await asyncio.to_thread(guarded, request, caller, operation, work, resource)


async def _listing(
    request: Request,
    caller: Principal,
    operation: str,
    key: str,
    read: Callable[[Principal], list[dict[str, Any]]],
    resource: str,
) -> dict[str, Any]:
    """A read of a list, recorded with how many items it returned."""

    def work(record: Recorder) -> dict[str, Any]:
        found = read(caller)
        record.entry.result_count = len(found)
        return {key: found}

    return await _guarded(request, caller, operation, work, resource)


async def _share(
    request: Request,
    caller: Principal,
    request_id: int,
    camera: int,
    start: datetime,
    add: Add,
    how: str,
) -> dict[str, Any]:
    """:func:`facegate.footage.sharing.share`, in a thread, recorded with this request's id."""
    offer = Offer(caller, request_id, camera, start, how, request.state.request_id)
    return await asyncio.to_thread(share, services_of(request), acting.guarded, offer, add)


def _noting(
    record: Recorder,
    detail: Callable[[dict[str, Any]], dict[str, Any]],
    count: Callable[[dict[str, Any]], int] | None = None,
) -> Record:
    """``record``, writing what changed (from the answer) into its entry first."""

    def write(s: Any, answer: dict[str, Any]) -> None:
        record.entry.detail = detail(answer)
        if count is not None:
            record.entry.result_count = count(answer)
        record(s, answer)

    return write


@router.post(
    "/cameras",
    operation_id="RegisterCamera",
    status_code=201,
    tags=TAGS,
    summary="Register a camera (camera owners, community admins)",
    responses=CONFLICT,
)
async def register_camera(request: Request, caller: CallerDep, body: NewCamera) -> dict[str, Any]:
    footage = services_of(request).footage

    def work(record: Recorder) -> dict[str, Any]:
        return footage.register_camera(
            caller,
            name=body.Name,
            latitude=body.Latitude,
            longitude=body.Longitude,
            address=body.Address,
            owner=body.Owner,
            record=record,
        )

    return await _guarded(request, caller, "RegisterCamera", work, "cameras")


@router.get(
    "/cameras",
    operation_id="ListCameras",
    tags=TAGS,
    summary="Your cameras (an admin: the organization's)",
)
async def list_cameras(request: Request, caller: CallerDep) -> dict[str, Any]:
    read = services_of(request).footage.cameras
    return await _listing(request, caller, "ListCameras", "Cameras", read, "cameras")


@router.post(
    "/footage-requests",
    operation_id="RequestFootage",
    status_code=201,
    tags=TAGS,
    summary="Request footage (agencies)",
    description="Asks the owners of the named cameras, or of every camera within RadiusMeters "
    "of a point (chosen now), for footage of one time window of at most 24 hours in the past. "
    "The answer counts the cameras asked; each owner decides for their own.",
    responses=NOT_FOUND,
)
async def request_footage(request: Request, caller: CallerDep, body: NewRequest) -> dict:
    footage = services_of(request).footage
    start = parse_instant(body.WindowStart, "WindowStart")
    end = parse_instant(body.WindowEnd, "WindowEnd")
    area = (
        Area(body.Area.Latitude, body.Area.Longitude, body.Area.RadiusMeters)
        if body.Area is not None
        else None
    )

    def work(record: Recorder) -> dict[str, Any]:
        record.entry.case_reference = body.IncidentReference
        return footage.create_request(
            caller,
            incident=body.IncidentReference,
            reason=body.Reason,
            window_start=start,
            window_end=end,
            camera_ids=body.CameraIds,
            area=area,
            record=_noting(
                record,
                lambda answer: {
                    "footage_request": answer["FootageRequestId"],
                    "by": "area" if area else "cameras",
                },
                lambda answer: answer["Cameras"]["Asked"],
            ),
        )

    return await _guarded(request, caller, "RequestFootage", work, "footage-requests")


@router.get(
    "/footage-requests",
    operation_id="ListFootageRequests",
    tags=TAGS,
    summary="Footage requests you may see",
    description="Agencies: their own requests, with counts of the cameras' answers. Camera "
    "owners: the requests for their cameras, with their own decisions. Community admins: the "
    "requests for the organization's cameras, without the owners' decisions.",
)
async def list_requests(request: Request, caller: CallerDep) -> dict[str, Any]:
    read = services_of(request).footage.requests
    return await _listing(
        request, caller, "ListFootageRequests", "FootageRequests", read, "footage-requests"
    )


@router.get(
    "/footage-requests/{request_id}",
    operation_id="GetFootageRequest",
    tags=TAGS,
    summary="One footage request",
    description="The agency's view adds the videos shared with it (`Footage`); never which "
    "camera or owner declined.",
    responses=NOT_FOUND,
)
async def get_request(request: Request, caller: CallerDep, request_id: RequestId) -> dict:
    footage = services_of(request).footage

    def work(_record: Recorder) -> dict[str, Any]:
        return footage.request(caller, request_id)

    where = f"footage-requests/{request_id}"
    return await _guarded(request, caller, "GetFootageRequest", work, where)


@router.post(
    "/footage-requests/{request_id}/decision",
    operation_id="DecideFootageRequest",
    tags=TAGS,
    summary="Approve, decline or revoke (camera owners)",
    description="For your own cameras in the request. APPROVE (a pending, declined or revoked "
    "camera), DECLINE (a pending one) or REVOKE (an approved one whose footage was not shared "
    "yet: once shared, the approval is used).",
    responses={**NOT_FOUND, **CONFLICT},
)
async def decide(
    request: Request, caller: CallerDep, request_id: RequestId, body: DecisionBody
) -> dict[str, Any]:
    footage = services_of(request).footage
    decision = body.Decision.lower()

    def work(record: Recorder) -> dict[str, Any]:
        return footage.decide(
            caller,
            request_id,
            decision,
            body.CameraIds,
            record=_noting(
                record,
                lambda answer: {
                    "footage_request": request_id,
                    "decision": decision,
                    "cameras": answer["DecidedCameraIds"],
                },
                lambda answer: len(answer["DecidedCameraIds"]),
            ),
        )

    where = f"footage-requests/{request_id}"
    return await _guarded(request, caller, "DecideFootageRequest", work, where)


@router.post(
    "/footage-requests/{request_id}/close",
    operation_id="CloseFootageRequest",
    tags=TAGS,
    summary="Close a footage request (the agency)",
    description="Nothing is decided or shared for it afterwards.",
    responses={**NOT_FOUND, **CONFLICT},
)
async def close(request: Request, caller: CallerDep, request_id: RequestId) -> dict[str, Any]:
    footage = services_of(request).footage

    def work(record: Recorder) -> dict[str, Any]:
        noted = _noting(record, lambda _answer: {"footage_request": request_id})
        return footage.close(caller, request_id, noted)

    where = f"footage-requests/{request_id}"
    return await _guarded(request, caller, "CloseFootageRequest", work, where)


@router.post(
    "/footage-requests/{request_id}/footage",
    operation_id="ShareFootage",
    status_code=201,
    tags=TAGS,
    summary="Share a video of an approved camera (its owner)",
    description="The body is the video file (H.264 in MP4 or MOV). Refused unless you own the "
    "camera, you approved this request for it, the request is open, and the video, from "
    "`recorded_from` to `recorded_from` plus its duration, lies inside the request's window. "
    "The video becomes the agency's; its `VideoId` is what the agency's jobs name.",
    responses=NOT_FOUND,
    openapi_extra=VIDEO_BODY,
)
async def share_upload(
    request: Request,
    caller: CallerDep,
    request_id: RequestId,
    camera: Annotated[int, Query(description="The camera the video is from.")],
    recorded_from: Annotated[str, Query(description="When the video starts (ISO 8601).")],
) -> dict[str, Any]:
    services = services_of(request)
    start = parse_instant(recorded_from, "recorded_from")
    declared = request.headers.get("content-length")
    length = int(declared) if declared and declared.isdigit() else None
    loop = asyncio.get_running_loop()

    def add(agency: int, added_by: str, link: Any, admit: Any, record: Any) -> dict[str, Any]:
        # Only once the policies allowed the share is the body read (streamed to disk).
        receiving = services.videos.receive(request.stream(), length)
        temp = asyncio.run_coroutine_threadsafe(receiving, loop).result()
        return services.videos.ingest(
            temp, agency, added_by, footage=link, admit=admit, record=record
        )

    return await _share(request, caller, request_id, camera, start, add, "upload")


@router.post(
    "/footage-requests/{request_id}/footage/link",
    status_code=201,
    tags=TAGS,
    summary="Share a file of the video directory (its camera's owner)",
    description="As the upload, for a file inside the operator's video directory "
    "(FACEGATE_VIDEO_DIR), named relative to it.",
    responses=NOT_FOUND,
)
async def share_link(
    request: Request, caller: CallerDep, request_id: RequestId, body: LinkBody
) -> dict[str, Any]:
    services = services_of(request)
    start = parse_instant(body.RecordedFrom, "RecordedFrom")

    def add(agency: int, added_by: str, link: Any, admit: Any, record: Any) -> dict[str, Any]:
        return services.videos.link(
            body.Path, agency, added_by, footage=link, admit=admit, record=record
        )

    return await _share(request, caller, request_id, body.CameraId, start, add, "link")

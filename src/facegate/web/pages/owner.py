"""The camera owner's pages: my cameras, the footage requests for them, approve / decline /
revoke, and registering a camera.

Each page and action is the footage domain's own (:mod:`facegate.footage.consent`) under the
same operations as the REST routes (ListCameras, RegisterCamera, ListFootageRequests,
GetFootageRequest, DecideFootageRequest), decided by the decision point as the signed-in owner
(FOOTAGE-CONSENT) and recorded in the owner's organization's log.

A console sign-in holds no key, so no use case. FOOTAGE-CONSENT asks for an approved,
unexpired use case of the organization: the console acts under the organization's approved,
unexpired ``footage_sharing`` use case (the purpose of camera owners' organizations, see
docs/footage.md), and the record names it. Without one, the decision point refuses the
owner's pages exactly as it refuses a key without one.

Owners see only their own cameras, and only their own cameras' part of each request (a member
who is also the community's admin is shown here only what they own).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response

from facegate.audit.log import Record, Recorder
from facegate.errors import (
    ConflictException,
    InvalidParameterException,
    ResourceAlreadyExistsException,
)
from facegate.footage.decisions import TRANSITIONS
from facegate.policy.registry import Principal
from facegate.web.console import (
    PREFIX,
    Who,
    act,
    form_of,
    redirect,
    render,
    requires,
    services_of,
)
from facegate.web.format import when
from facegate.web.route import ConsoleRoute

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
Owner = Annotated[Who, Depends(requires("owner"))]
RequestId = Annotated[int, Path(ge=1)]
FOOTAGE_PURPOSE = "footage_sharing"
DECISIONS = tuple(TRANSITIONS)  # approve, decline, revoke


def as_owner(request: Request, who: Who) -> Who:
    """The signed-in owner under their organization's approved, unexpired footage-sharing
    use case (the one that expires last), or without one (then FOOTAGE-CONSENT refuses,
    naming the use case)."""
    registry = services_of(request).registry
    principal = registry.member_principal(who.person.member_id, purpose=FOOTAGE_PURPOSE)
    return Who(who.person, principal)


def _noting(recorder: Recorder, request_id: int, decision: str) -> Record:
    """``recorder``, writing the decision into its entry first (as the REST route does)."""

    def write(s: Any, answer: dict[str, Any]) -> None:
        recorder.entry.detail = {
            "footage_request": request_id,
            "decision": decision,
            "cameras": answer["DecidedCameraIds"],
        }
        recorder.entry.result_count = len(answer["DecidedCameraIds"])
        recorder(s, answer)

    return write


def _mine(request_view: dict[str, Any]) -> dict[str, Any]:
    """A request as an owner's page shows it: only the cameras they own (the ones the
    domain gives a decision for), with the actions each camera's state allows."""
    cameras = []
    for camera in request_view.get("Cameras", []):
        if "Decision" not in camera:
            continue  # not this owner's (a community admin sees the others)
        state, shared = camera["Decision"], camera.get("SharedVideos", 0)
        actions = [
            decision
            for decision, (before, _after) in TRANSITIONS.items()
            if request_view.get("Status") == "open"
            and state in before
            and not (decision == "revoke" and shared)  # once shared, the approval is used
        ]
        cameras.append({**camera, "Decided": when(camera.get("DecidedAt")), "Actions": actions})
    return {
        **request_view,
        "Cameras": cameras,
        "From": when(request_view.get("WindowStart")),
        "To": when(request_view.get("WindowEnd")),
        "Asked": when(request_view.get("CreatedAt")),
        "Pending": sum(1 for c in cameras if c["Decision"] == "pending"),
    }


def _listed(
    request: Request,
    who: Who,
    operation: str,
    read: Callable[[Principal], list[dict[str, Any]]],
    resource: str,
) -> list[dict[str, Any]]:
    """A read of a list through the decision point, recorded with how many it returned."""

    def work(recorder: Recorder) -> list[dict[str, Any]]:
        found = read(who.principal)
        recorder.entry.result_count = len(found)
        return found

    return act(request, who, operation, work, resource=resource)


def _cameras(request: Request, who: Who) -> list[dict[str, Any]]:
    read = services_of(request).footage.cameras
    found = _listed(request, who, "ListCameras", read, "cameras")
    # An owner who is also the organization's admin is given all of its cameras: show theirs.
    return [
        {**c, "Registered": when(c.get("RegisteredAt"))}
        for c in found
        if c.get("Owner") == who.person.member
    ]


def _requests(request: Request, who: Who) -> list[dict[str, Any]]:
    read = services_of(request).footage.requests
    found = _listed(request, who, "ListFootageRequests", read, "footage-requests")
    return [shown for shown in map(_mine, found) if shown["Cameras"]]


def _request(request: Request, who: Who, request_id: int) -> dict[str, Any]:
    footage = services_of(request).footage
    shown = act(
        request,
        who,
        "GetFootageRequest",
        lambda _recorder: footage.request(who.principal, request_id),
        resource=f"footage-requests/{request_id}",
    )
    return _mine(shown)


# --- my cameras ------------------------------------------------------------------------------


def _cameras_page(
    request: Request,
    who: Who,
    cameras: list[dict[str, Any]],
    requests: list[dict[str, Any]],
    *,
    status: int = 200,
    error: str = "",
    entered: dict[str, str] | None = None,
    registered: str = "",
) -> Response:
    return render(
        request,
        "owner/cameras.html",
        who,
        status=status,
        title="My cameras",
        cameras=cameras,
        waiting=sum(r["Pending"] for r in requests if r["Status"] == "open"),
        open_requests=sum(1 for r in requests if r["Status"] == "open"),
        error=error,
        entered=entered or {},
        registered=registered,
    )


def _both(request: Request, who: Who) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return _cameras(request, who), _requests(request, who)


@router.get("/cameras", response_class=HTMLResponse)
async def cameras(request: Request, who: Owner, registered: str = "") -> Response:
    who = await asyncio.to_thread(as_owner, request, who)
    mine, requests = await asyncio.to_thread(_both, request, who)
    shown = registered if registered.isdigit() and len(registered) < 12 else ""
    return _cameras_page(request, who, mine, requests, registered=shown)


def _coordinate(value: str, what: str) -> float:
    try:
        return float(value.strip().replace(",", "."))
    except ValueError:
        raise InvalidParameterException(
            f"{what} must be a number of degrees (WGS 84), like 47.6100."
        ) from None


@router.post("/cameras", response_class=HTMLResponse)
async def register(request: Request, who: Owner) -> Response:
    form = await form_of(request, who)
    who = await asyncio.to_thread(as_owner, request, who)
    entered = {k: str(form.get(k, ""))[:256] for k in ("name", "latitude", "longitude", "address")}
    footage = services_of(request).footage

    def register_one() -> dict[str, Any]:
        latitude = _coordinate(entered["latitude"], "Latitude")
        longitude = _coordinate(entered["longitude"], "Longitude")

        def work(recorder: Recorder) -> dict[str, Any]:
            return footage.register_camera(
                who.principal,
                name=entered["name"],
                latitude=latitude,
                longitude=longitude,
                address=entered["address"],
                record=recorder,
            )

        return act(request, who, "RegisterCamera", work, resource="cameras")

    try:
        camera = await asyncio.to_thread(register_one)
    except (InvalidParameterException, ResourceAlreadyExistsException) as refused:
        mine, requests = await asyncio.to_thread(_both, request, who)
        status = 409 if isinstance(refused, ResourceAlreadyExistsException) else 400
        return _cameras_page(
            request, who, mine, requests, status=status, error=refused.message, entered=entered
        )
    return redirect(f"{PREFIX}/cameras?registered={camera['CameraId']}")


# --- footage requests ------------------------------------------------------------------------


@router.get("/cameras/requests", response_class=HTMLResponse)
async def requests_page(request: Request, who: Owner) -> Response:
    who = await asyncio.to_thread(as_owner, request, who)
    found = await asyncio.to_thread(_requests, request, who)
    return render(
        request,
        "owner/requests.html",
        who,
        title="Footage requests",
        requests=found,
        open_requests=[r for r in found if r["Status"] == "open"],
        closed_requests=[r for r in found if r["Status"] != "open"],
    )


async def _request_page(
    request: Request,
    who: Who,
    request_id: int,
    *,
    status: int = 200,
    error: str = "",
    decided: bool = False,
) -> Response:
    shown = await asyncio.to_thread(_request, request, who, request_id)
    return render(
        request,
        "owner/request.html",
        who,
        status=status,
        title=f"Footage request {shown.get('IncidentReference', request_id)}",
        r=shown,
        error=error,
        decided=decided,
    )


@router.get("/cameras/requests/{request_id}", response_class=HTMLResponse)
async def request_page(
    request: Request, who: Owner, request_id: RequestId, decided: str = ""
) -> Response:
    who = await asyncio.to_thread(as_owner, request, who)
    return await _request_page(request, who, request_id, decided=decided in DECISIONS)


@router.post("/cameras/requests/{request_id}/decision", response_class=HTMLResponse)
async def decide(request: Request, who: Owner, request_id: RequestId) -> Response:
    form = await form_of(request, who)
    who = await asyncio.to_thread(as_owner, request, who)
    decision = str(form.get("decision", "")).lower()
    camera = str(form.get("camera", "")).strip()
    footage = services_of(request).footage

    def decide_one() -> dict[str, Any]:
        if decision not in DECISIONS:
            raise InvalidParameterException("Choose Approve, Decline or Revoke.")
        if camera and not camera.isdigit():
            raise InvalidParameterException("The camera is named by its number.")
        chosen = [int(camera)] if camera else None

        def work(recorder: Recorder) -> dict[str, Any]:
            return footage.decide(
                who.principal,
                request_id,
                decision,
                chosen,
                record=_noting(recorder, request_id, decision),
            )

        return act(
            request,
            who,
            "DecideFootageRequest",
            work,
            resource=f"footage-requests/{request_id}",
        )

    try:
        await asyncio.to_thread(decide_one)
    except (InvalidParameterException, ConflictException) as refused:
        return await _request_page(
            request,
            who,
            request_id,
            status=409 if isinstance(refused, ConflictException) else 400,
            error=refused.message,
        )
    return redirect(f"{PREFIX}/cameras/requests/{request_id}?decided={decision}")

"""Sharing a camera's footage with the agency that asked for it (FOOTAGE-CONSENT).

Three checks, each one the same Cedar question (``ShareFootage``) on fresher facts:

1. before anything is read: the caller owns the camera, its owner approved the request, the
   request is open and the video's start (``recorded_from``) lies in the window;
2. once the video's header is read, before it is stored: its end (start plus its duration)
   lies in the window too, and the approval still stands;
3. in the transaction that stores it, with the rows locked (PostgreSQL; on SQLite the
   transaction already holds the write lock): the approval still stands, and the shared
   video is counted against it, so that it can no longer be revoked. A refusal here rolls
   the video back.

The video becomes the agency's (its organization's id), usable by its video jobs as
``{"S3Object": {"Bucket": "facegate", "Name": <VideoId>}}``. Its ``AddedBy`` names the
request and camera, never the owner. One audit record, of the owner's organization, says what
happened; every refusal names the rule.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from facegate.audit.log import Record
from facegate.db import aware
from facegate.errors import ResourceNotFoundException
from facegate.footage.views import iso
from facegate.policy import guard
from facegate.policy.point import Question, Resource
from facegate.policy.registry import Principal
from facegate.video.media import VideoMetadata
from facegate.video.store import Admit, FootageLink

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from facegate.service import Services

# Stores the video for the agency: (agency's organization id, added_by, link, admit, record)
# -> the stored video's view. An upload or a file of the video directory.
Add = Callable[[int, str, FootageLink, Admit, Record], dict[str, Any]]


def share(
    services: Services,
    caller: Principal,
    request_id: int,
    camera_id: int,
    recorded_from: datetime,
    add: Add,
    *,
    how: str,
    request_ref: str = "",
) -> dict[str, Any]:
    """Share one video of ``camera_id`` for request ``request_id``, or refuse it. From a
    thread; ``add`` is called only when the policies allowed the share."""
    footage = services.footage
    start = aware(recorded_from)
    facts, agency = footage.facts(caller, request_id, camera_id, start)
    where = f"footage-requests/{request_id}/cameras/{camera_id}"
    target = Resource("Account", where, caller.organization_id, caller.organization)
    missing = ResourceNotFoundException(f"No footage request {request_id} with a camera of yours.")

    def work(recorder: Any) -> dict[str, Any]:
        entry = recorder.entry
        entry.detail = {"footage_request": request_id, "camera": camera_id, "how": how}
        end: dict[str, datetime] = {}

        def check(session: Session | None = None) -> None:
            fresh, _ = footage.facts(
                caller, request_id, camera_id, start, end["at"], session=session
            )
            decision = services.point.decide(
                caller, Question("ShareFootage", target, footage=fresh)
            )
            if not decision.allowed:
                assert decision.error is not None
                entry.decision, entry.policies = "deny", decision.policies
                raise decision.error

        def admit(metadata: VideoMetadata) -> None:
            end["at"] = start + timedelta(milliseconds=metadata.duration_ms)
            check()

        def record(s: Session, body: dict[str, Any]) -> None:
            check(s)
            footage.claim(s, request_id, camera_id)
            entry.detail["video"] = body["VideoId"]
            recorder(s, body)

        assert agency is not None  # the policies denied the share otherwise
        added_by = f"footage-request:{request_id}/camera:{camera_id}"
        out = add(agency, added_by, FootageLink(request_id, camera_id, start), admit, record)
        return {**out, "RecordedTo": iso(end["at"])}

    return guard.guarded(
        services,
        caller,
        "ShareFootage",
        target,
        work,
        request_id=request_ref,
        denied=lambda decision: missing if agency is None else decision.error,
        footage=facts,
        resource=where,
    )

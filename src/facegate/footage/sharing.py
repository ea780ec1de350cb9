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
happened; every refusal names the rule: the door passes the decide-run-record step
(:class:`Guard`, ``facegate.actions.acting.guarded``) and the services (:class:`Sharing`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from facegate.audit.log import AuditLog, Record, Recorder
from facegate.db import aware
from facegate.errors import FacegateError, ResourceNotFoundException
from facegate.footage.consent import Footage
from facegate.footage.views import iso
from facegate.policy.point import Decision, DecisionPoint, FootageFacts, Question, Resource
from facegate.policy.registry import Principal
from facegate.video.media import VideoMetadata
from facegate.video.store import Admit, FootageLink

# Stores the video for the agency: (agency's organization id, added_by, link, admit, record)
# -> the stored video's view. An upload or a file of the video directory.
Add = Callable[[int, str, FootageLink, Admit, Record], dict[str, Any]]


class Sharing(Protocol):
    """What a share uses of the services: the footage domain, the decision point and the
    audit log (which the guard records in)."""

    @property
    def footage(self) -> Footage: ...

    @property
    def point(self) -> DecisionPoint: ...

    @property
    def audit(self) -> AuditLog: ...


class Guard(Protocol):
    """Decide, run, record: ask the decision point, run ``work(recorder)`` if allowed, and
    leave exactly one record (``facegate.actions.acting.guarded``)."""

    def __call__(
        self,
        services: Sharing,
        caller: Principal,
        operation: str,
        target: Resource,
        work: Callable[[Recorder], Any],
        *,
        request_id: str = "",
        denied: Callable[[Decision], FacegateError] | None = None,
        footage: FootageFacts | None = None,
        **record: Any,
    ) -> Any: ...


@dataclass(frozen=True)
class Offer:
    """One video a camera's owner shares for a request."""

    caller: Principal
    request_id: int
    camera_id: int
    recorded_from: datetime  # when the video starts
    how: str  # "upload" or "link" (a file of the video directory), for the record
    request_ref: str = ""  # the HTTP request's id, for the record


def share(services: Sharing, guard: Guard, offer: Offer, add: Add) -> dict[str, Any]:
    """Share the offered video, or refuse it. From a thread; ``add`` is called only when the
    policies allowed the share."""
    footage = services.footage
    caller, request_id, camera_id = offer.caller, offer.request_id, offer.camera_id
    start = aware(offer.recorded_from)
    facts, agency = footage.facts(caller, request_id, camera_id, start)
    where = f"footage-requests/{request_id}/cameras/{camera_id}"
    target = Resource("Account", where, caller.organization_id, caller.organization)
    missing = ResourceNotFoundException(f"No footage request {request_id} with a camera of yours.")

    def work(recorder: Recorder) -> dict[str, Any]:
        entry = recorder.entry
        entry.detail = {"footage_request": request_id, "camera": camera_id, "how": offer.how}
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

    def denied(decision: Decision) -> FacegateError:
        if agency is None:
            return missing
        assert decision.error is not None
        return decision.error

    return guard(
        services,
        caller,
        "ShareFootage",
        target,
        work,
        request_id=offer.request_ref,
        denied=denied,
        footage=facts,
        resource=where,
    )

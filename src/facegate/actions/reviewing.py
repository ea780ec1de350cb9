"""Review actions under the policies: list, show, confirm, reject, fetch the result.

Shared by the REST routes (``/v1/reviews``) and ``facegate review``. Each action asks the
decision point (TENANT: another organization's review is "not found"; HUMAN-REVIEW: only a
reviewer who is not the requester sees the candidates and decides; only the requester fetches
the result) and leaves a decision record.
"""

from __future__ import annotations

from typing import Any, Protocol

from facegate.actions.acting import Decides, guarded
from facegate.audit.log import AuditLog, Recorder
from facegate.errors import FacegateError, InvalidParameterException, ResourceNotFoundException
from facegate.policy.point import Decision, Resource
from facegate.policy.registry import Principal
from facegate.policy.reviews import Reviews


class Reviewing(Protocol):
    """What review actions read and change."""

    @property
    def point(self) -> Decides: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def reviews(self) -> Reviews: ...


OPERATION = {
    "list": "ListReviews",
    "show": "GetReview",
    "confirm": "DecideReview",
    "reject": "DecideReview",
    "result": "GetReviewResult",
}


def review_action(
    services: Reviewing,
    principal: Principal,
    action: str,
    review_id: str | None,
    *,
    candidates: list[str] | None = None,
    note: str = "",
    request_id: str = "",
) -> Any:
    operation = OPERATION.get(action)
    if operation is None:
        raise InvalidParameterException(f"Unknown review action {action!r}.")
    if action == "list":
        resource = Resource("Account", "account", principal.organization_id, principal.organization)
    else:
        owner = services.reviews.owner(review_id or "")
        if owner is None:
            raise ResourceNotFoundException(f"No review {review_id}.")
        org_id, requester = owner
        resource = Resource("Review", review_id or "", org_id, "", requester)

    def work(recorder: Recorder) -> Any:
        entry, reviews = recorder.entry, services.reviews
        if action == "list":
            result: Any = reviews.listing(principal)
            entry.result_count = len(result)
        elif action == "show":
            result = reviews.show(principal, review_id or "")
            entry.result_count = len(result.get("Candidates", []))
        elif action == "result":
            result = reviews.result(principal, review_id or "")
            released = result.get("Result", {})
            matches = released.get("FaceMatches", [])
            entry.result_count = len(matches) + len(released.get("UserMatches", []))
            entry.face_ids = [m["Face"]["FaceId"] for m in matches]
        else:
            entry.detail = {"decision": action, "candidates": sorted(candidates or [])}
            result = reviews.decide(
                principal, review_id or "", action, candidates or [], note, record=recorder
            )
        return result

    def denied(decision: Decision) -> FacegateError:
        if "TENANT" in decision.rules:  # answered exactly as an unknown review
            return ResourceNotFoundException(f"No review {review_id}.")
        assert decision.error is not None
        return decision.error

    return guarded(
        services,
        principal,
        operation,
        resource,
        work,
        request_id=request_id,
        denied=denied,
        resource=f"review/{review_id}" if review_id else "reviews",
        review_id=review_id or "",
    )

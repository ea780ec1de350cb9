"""The reviewer's pages: the queue of open reviews, one review, deciding it.

Everything goes through :func:`facegate.actions.reviewing.review_action`, as the REST routes
and ``facegate review`` do, with the signed-in member's principal: the decision point decides
(TENANT: another organization's review is "not found"; HUMAN-REVIEW: only a reviewer who is
not the requester sees the candidates and decides) and every list, look and decision leaves
one audit record naming the member (access key ``console``).

- ``GET /console/reviews``: the organization's open reviews, oldest first, without the
  reviewer's own searches and the reviews they have already decided;
- ``GET /console/reviews/{id}``: the probe and each candidate's crop side by side, with the
  similarity and the thresholds, the "investigative lead" notice, and the decision form
  (confirm the ticked candidates, or reject them all; a note is required);
- ``POST /console/reviews/{id}/decision``: decide; a refused form (no note, nothing ticked)
  shows the page again with the reason, and nothing is decided;
- ``GET /console/reviews/{id}/outcome``: where the review stands after deciding (confirmed,
  waiting for another reviewer, rejected).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response

from facegate.actions.reviewing import review_action
from facegate.errors import ConflictException, InvalidParameterException
from facegate.policy.reviews import LEAD_NOTICE, MAX_NOTE
from facegate.web.console import (
    PREFIX,
    Who,
    form_of,
    redirect,
    render,
    request_id,
    requires,
    services_of,
)
from facegate.web.format import when
from facegate.web.route import ConsoleRoute

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
Reviewer = Annotated[Who, Depends(requires("reviewer"))]
ReviewId = Annotated[str, Path(min_length=1, max_length=64)]

OPERATIONS = {  # what the requester did, in words
    "SearchFaces": "Search by a stored face",
    "SearchFacesByImage": "Search by image",
    "SearchUsers": "User search by a stored face",
    "SearchUsersByImage": "User search by image",
    "StartFaceSearch": "Search in a video",
}


def time_left(iso: str | None, now: datetime) -> str:
    """How long until a deadline, in words ('3 h 20 min left', 'passed')."""
    if not iso:
        return ""
    deadline = datetime.fromisoformat(iso)
    deadline = deadline if deadline.tzinfo else deadline.replace(tzinfo=UTC)
    minutes = int((deadline - now).total_seconds() // 60)
    if minutes <= 0:
        return "passed"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min left" if hours else f"{minutes} min left"


def _dressed(review: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A review summary with what the pages show in words."""
    return {
        **review,
        "OperationText": OPERATIONS.get(review.get("Operation", ""), review.get("Operation")),
        "Opened": when(review.get("CreatedAt")),
        "Due": when(review.get("Deadline")),
        "Left": time_left(review.get("Deadline"), now),
    }


def _seen(request: Request, review_id: str, shown: dict[str, Any]) -> dict[str, float] | None:
    """Where the person of a video search review is seen ({"from": s, "to": s}), or None.

    A video search (StartFaceSearch) opens one review per matched person; its sealed answer
    carries the person's time range (``Person``: ``From``/``To`` in milliseconds). Read only
    after the decision point let this reviewer look at the review (``shown``)."""
    if shown.get("Operation") != "StartFaceSearch":
        return None
    person = shown.get("Person")
    if person is None:
        person = services_of(request).reviews.sealed_person(review_id)
    if not person or person.get("From") is None or person.get("To") is None:
        return None
    return {"from": person["From"] / 1000, "to": person["To"] / 1000}


def _show(request: Request, who: Who, review_id: str) -> tuple[dict[str, Any], Any]:
    """GetReview through the decision point, and the video time range if any (a thread)."""
    shown = review_action(
        services_of(request), who.principal, "show", review_id, request_id=request_id(request)
    )
    return shown, _seen(request, review_id, shown)


async def _review_page(
    request: Request,
    who: Who,
    review_id: str,
    *,
    status: int = 200,
    error: str = "",
    note: str = "",
    ticked: list[str] | None = None,
) -> Response:
    shown, seen = await asyncio.to_thread(_show, request, who, review_id)
    now = datetime.now(UTC)
    return render(
        request,
        "reviewer/review.html",
        who,
        status=status,
        title=f"Review {shown.get('CaseReference') or review_id}",
        review=_dressed(shown, now),
        seen=seen,
        lead_notice=LEAD_NOTICE,
        max_note=MAX_NOTE,
        error=error,
        note=note,
        ticked=set(ticked or []),
    )


@router.get("/reviews", response_class=HTMLResponse)
async def queue(request: Request, who: Reviewer) -> Response:
    reviews = await asyncio.to_thread(
        review_action,
        services_of(request),
        who.principal,
        "list",
        None,
        request_id=request_id(request),
    )
    now = datetime.now(UTC)
    return render(
        request,
        "reviewer/queue.html",
        who,
        title="Reviews",
        reviews=[_dressed(r, now) for r in reviews],
    )


@router.get("/reviews/{review_id}", response_class=HTMLResponse)
async def review(request: Request, who: Reviewer, review_id: ReviewId) -> Response:
    return await _review_page(request, who, review_id)


def _values(form: dict[str, Any], name: str) -> list[str]:
    value = form.get(name)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


@router.post("/reviews/{review_id}/decision", response_class=HTMLResponse)
async def decide(request: Request, who: Reviewer, review_id: ReviewId) -> Response:
    form = await form_of(request, who)
    decision = str(form.get("decision", ""))
    note = str(form.get("note", ""))
    ticked = _values(form, "candidate")
    if decision not in ("confirm", "reject"):
        return await _review_page(
            request,
            who,
            review_id,
            status=400,
            error="Choose 'Confirm the ticked candidates' or 'Reject all candidates'.",
            note=note,
            ticked=ticked,
        )
    try:
        await asyncio.to_thread(
            review_action,
            services_of(request),
            who.principal,
            decision,
            review_id,
            candidates=ticked if decision == "confirm" else [],
            note=note,
            request_id=request_id(request),
        )
    except (InvalidParameterException, ConflictException) as refused:
        # Nothing was decided: the same page again, with the reason and what was entered.
        return await _review_page(
            request,
            who,
            review_id,
            status=409 if isinstance(refused, ConflictException) else 400,
            error=refused.message,
            note=note,
            ticked=ticked,
        )
    return redirect(f"{PREFIX}/reviews/{review_id}/outcome")


@router.get("/reviews/{review_id}/outcome", response_class=HTMLResponse)
async def outcome(request: Request, who: Reviewer, review_id: ReviewId) -> Response:
    shown, _seen_range = await asyncio.to_thread(_show, request, who, review_id)
    return render(
        request,
        "reviewer/outcome.html",
        who,
        title="Review decided",
        review=_dressed(shown, datetime.now(UTC)),
    )

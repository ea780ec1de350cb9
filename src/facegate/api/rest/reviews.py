"""REST routes of human review: ``/v1/reviews`` for reviewers and requesters.

A reviewer (a key held by a member with the reviewer role) lists the open reviews of their
organization that are not their own, looks at one (probe and candidates' crops, base64 JPEG)
and decides it. The requester reads the status of their own reviews and, once confirmed, the
released candidates, labelled as an investigative lead.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from facegate.actions.reviewing import review_action
from facegate.api.rest.bodies import services_of
from facegate.api.rest.caller import CallerDep
from facegate.api.rest.errors import RestRoute
from facegate.api.rest.openapi import ERROR_RESPONSES

router = APIRouter(prefix="/v1/reviews", route_class=RestRoute, responses=ERROR_RESPONSES)
ReviewId = Annotated[str, Path(description="The review's id (X-Facegate-Review-Id).")]


class ReviewDecisionBody(BaseModel):
    Decision: Literal["CONFIRM", "REJECT"] = Field(
        description="CONFIRM the candidates named in CandidateIds, or REJECT them all."
    )
    CandidateIds: list[str] = Field(
        default_factory=list,
        description="With CONFIRM: the candidates (face ids, or user ids) confirmed.",
        max_length=100,
    )
    Note: str = Field(description="Why (required; kept with the decision).", max_length=2000)


async def _act(request: Request, caller: Any, action: str, review_id: str | None, **kw: Any):
    services = services_of(request)
    return await asyncio.to_thread(
        review_action,
        services,
        caller,
        action,
        review_id,
        request_id=request.state.request_id,
        **kw,
    )


@router.get(
    "",
    tags=["review"],
    summary="List reviews",
    description="Reviewers: the open reviews of their organization that are not their own, "
    "oldest first, with case reference and deadline. Others: their own searches' reviews.",
)
async def list_reviews(request: Request, caller: CallerDep) -> dict[str, Any]:
    return {"Reviews": await _act(request, caller, "list", None)}


@router.get(
    "/{review_id}",
    tags=["review"],
    summary="Show a review (reviewers)",
    description="The probe and each candidate's face crop (base64 JPEG) with its similarity, "
    "the requested and effective thresholds and the case reference. Reviewers only; never "
    "your own search.",
)
async def show_review(request: Request, caller: CallerDep, review_id: ReviewId) -> dict:
    return await _act(request, caller, "show", review_id)


@router.post(
    "/{review_id}/decision",
    tags=["review"],
    summary="Decide a review (reviewers)",
    description='Body: `{"Decision": "CONFIRM", "CandidateIds": ["<face id>"], "Note": "..."}` '
    'or `{"Decision": "REJECT", "Note": "..."}`. Where the use case needs two reviewers, the '
    "review closes when two agree.",
)
async def decide_review(
    request: Request, caller: CallerDep, review_id: ReviewId, body: ReviewDecisionBody
) -> dict[str, Any]:
    action = "confirm" if body.Decision == "CONFIRM" else "reject"
    return await _act(
        request, caller, action, review_id, candidates=body.CandidateIds, note=body.Note
    )


@router.get(
    "/{review_id}/result",
    tags=["review"],
    summary="Fetch a reviewed result (the requester)",
    description="The status of your search's review and, once a reviewer confirmed candidates, "
    "the search's answer with only those candidates, labelled INVESTIGATIVE_LEAD.",
)
async def review_result(request: Request, caller: CallerDep, review_id: ReviewId) -> dict:
    return await _act(request, caller, "result", review_id)

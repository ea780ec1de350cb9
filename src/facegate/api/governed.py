"""Running an operation under the rules: decide, shape, run, hold for review, record.

Both front doors call :func:`execute` with validated parameters. In order:

1. the policy decision point decides, from the key's principal, the operation, its resource
   and what the request carries (case, warrant, basis, provenance, threshold, MaxFaces,
   attributes) -- before any image is decoded;
2. a denial is recorded and raised (its message names the rule);
3. an allowed request is shaped: the effective threshold (THRESHOLD-FLOOR), the default
   MaxFaces lowered to the use case's cap (SURVEILLANCE-LIMITS);
4. the operation runs; where HUMAN-REVIEW applies, the candidates are sealed in a review and
   the requester gets none, only the review's id;
5. one decision record is written for the request, whatever happened.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from facegate.actions.acting import Acting, admit
from facegate.api.operations import DEFAULT_VIDEO_MATCHES, OPERATIONS, Context, request_digest
from facegate.audit.log import Entry
from facegate.audit.log import entry_for as audit_entry
from facegate.errors import FacegateError, InvalidParameterException
from facegate.policy.deadlines import deadline, touch
from facegate.policy.point import ACCOUNT_OPERATIONS, IDENTIFY, Decision, Inputs, Question, Resource
from facegate.policy.registry import Principal
from facegate.policy.reviews import withheld
from facegate.service import Services
from facegate.vision.engine import DEFAULT_SIMILARITY_THRESHOLD

THRESHOLD_PARAMETER = {
    "CompareFaces": "SimilarityThreshold",
    "SearchFaces": "FaceMatchThreshold",
    "SearchFacesByImage": "FaceMatchThreshold",
    "SearchUsers": "UserMatchThreshold",
    "SearchUsersByImage": "UserMatchThreshold",
    "StartFaceSearch": "FaceMatchThreshold",
}
# Video jobs: the kind each Start operation starts; Get operations read the jobs too.
VIDEO_START = {"StartFaceDetection": "detection", "StartFaceSearch": "search"}
VIDEO_READ = {"GetFaceDetection", "GetFaceSearch"}
RESULTS_PARAMETER = {
    "SearchFaces": ("MaxFaces", 80),
    "SearchFacesByImage": ("MaxFaces", 80),
    "SearchUsers": ("MaxUsers", 10),
    "SearchUsersByImage": ("MaxUsers", 10),
}
ATTRIBUTES_PARAMETER = {
    "DetectFaces": "Attributes",
    "IndexFaces": "DetectionAttributes",
    "StartFaceDetection": "FaceAttributes",  # one value, DEFAULT or ALL
}
# Live-stream operations: facegate serves none, but asks the policies first so that a caller
# learns the rule (NO-REALTIME), not only that the operation is missing.
LIVE_OPERATIONS = {"CreateStreamProcessor", "StartStreamProcessor"}
# Request headers (both doors; REST also takes them as body or form fields) and their limits.
INPUT_HEADERS = {
    "case": ("X-Facegate-Case", "CaseReference", 256),
    "warrant": ("X-Facegate-Warrant", "WarrantReference", 256),
    "basis": ("X-Facegate-Basis", "LegalBasis", 1000),
    "provenance": ("X-Facegate-Provenance", "Provenance", 1000),
}


def inputs_from(headers: Any, fields: dict[str, Any] | None = None) -> Inputs:
    """The rules' inputs from X-Facegate-* headers, or (REST) from body or form fields."""
    values = {}
    for attr, (header, field_name, limit) in INPUT_HEADERS.items():
        value = headers.get(header)
        if value is None and fields is not None:
            value = fields.get(field_name)
        if value is None:
            values[attr] = ""
            continue
        if not isinstance(value, str):
            raise InvalidParameterException(f"{field_name} must be text.")
        value = value.strip()
        if len(value) > limit:
            raise InvalidParameterException(
                f"{header} ({field_name}) is longer than {limit} characters."
            )
        values[attr] = value
    return Inputs(**values)


async def refuse_unserved(
    services: Services, operation: str, principal: Principal, request_id: str
) -> None:
    """For a live-stream operation: the policies' denial if any (else the caller says Unknown)."""
    if operation not in LIVE_OPERATIONS:
        return
    question = Question(operation, resource_of(operation, {}, principal))
    decision = await asyncio.to_thread(services.point.decide, principal, question)
    entry = entry_for(principal, question, operation, request_id)
    entry.policy_version, entry.policies = decision.version, decision.policies
    if not decision.allowed:
        assert decision.error is not None
        entry.error_type, entry.reasons = decision.error.type_name, decision.error.message
        await record(services, entry)
        decision.error.headers = governance_headers(decision)
        raise decision.error


@dataclass
class Outcome:
    body: dict[str, Any]
    decision: Decision
    review_id: str | None = None

    def headers(self) -> dict[str, str]:
        """The X-Facegate-* headers both doors send with an allowed answer."""
        return governance_headers(self.decision, self.review_id)


def governance_headers(decision: Decision | None, review_id: str | None = None) -> dict[str, str]:
    if decision is None:
        return {}
    out = {"X-Facegate-Policy-Version": decision.version}
    if decision.requested_threshold is not None:
        out["X-Facegate-Requested-Threshold"] = f"{decision.requested_threshold:g}"
    if decision.effective_threshold is not None:
        out["X-Facegate-Effective-Threshold"] = f"{decision.effective_threshold:g}"
    if decision.rules and not decision.allowed:
        out["X-Facegate-Denied-By"] = ",".join(decision.rules)
    if review_id:
        out["X-Facegate-Review-Id"] = review_id
    return out


def resource_of(operation: str, params: dict[str, Any], principal: Principal) -> Resource:
    if operation in ACCOUNT_OPERATIONS or "CollectionId" not in params:
        return Resource("Account", "account", principal.organization_id, principal.organization)
    return Resource(
        "Collection", params["CollectionId"], principal.organization_id, principal.organization
    )


def question_of(
    operation: str,
    params: dict[str, Any],
    p: Principal,
    inputs: Inputs,
    video_seconds: int = 0,
) -> Question:
    threshold = None
    if operation in THRESHOLD_PARAMETER:
        threshold = float(params.get(THRESHOLD_PARAMETER[operation], DEFAULT_SIMILARITY_THRESHOLD))
    max_results = 0
    if operation in RESULTS_PARAMETER:
        name, default = RESULTS_PARAMETER[operation]
        max_results = int(params.get(name, min(default, p.caps.get("max_faces", default))))
    if operation == "StartFaceSearch":  # no MaxFaces parameter: facegate's default, capped
        max_results = min(DEFAULT_VIDEO_MATCHES, p.caps.get("max_faces", DEFAULT_VIDEO_MATCHES))
    attributes = ()
    if operation in ATTRIBUTES_PARAMETER:
        asked = params.get(ATTRIBUTES_PARAMETER[operation]) or ("DEFAULT",)
        attributes = (asked,) if isinstance(asked, str) else tuple(asked)
    return Question(
        operation=operation,
        resource=resource_of(operation, params, p),
        inputs=inputs,
        attributes=attributes,
        threshold=threshold,
        max_results=max_results,
        video_seconds=video_seconds,
    )


async def _video(services: Services, operation: str, params: dict[str, Any], ctx: Context) -> int:
    """For a Start operation: the video (header only, no frame decoded) and an earlier job
    with the same ClientRequestToken. Returns the seconds of video the request would search
    (counted against the use case's cap; nothing when the token repeats a started job)."""
    ctx.jobs = services.jobs
    if operation not in VIDEO_START:
        return 0
    org = ctx.caller.organization_id
    ctx.video = await asyncio.to_thread(services.jobs.locate, org, params["Video"])
    ctx.request_digest = request_digest(params)
    ctx.earlier_job = await asyncio.to_thread(
        services.jobs.earlier,
        org,
        VIDEO_START[operation],
        params.get("ClientRequestToken"),
        ctx.request_digest,
    )
    metadata = ctx.video.metadata
    if operation != "StartFaceSearch" or ctx.earlier_job or metadata is None:
        return 0
    return math.ceil(metadata.duration_ms / 1000)


def shaped(operation: str, params: dict[str, Any], decision: Decision, q: Question) -> dict:
    """The parameters the operation runs with: effective threshold, capped default results."""
    out = dict(params)
    if operation in THRESHOLD_PARAMETER and decision.effective_threshold is not None:
        out[THRESHOLD_PARAMETER[operation]] = decision.effective_threshold
    if operation in RESULTS_PARAMETER:
        out[RESULTS_PARAMETER[operation][0]] = q.max_results
    return out


def entry_for(p: Principal, q: Question | None, operation: str, request_id: str) -> Entry:
    inputs = q.inputs if q else Inputs()
    return audit_entry(
        p,
        operation,
        resource=q.resource.describe() if q else "",
        case_reference=inputs.case,
        warrant_reference=inputs.warrant,
        request_id=request_id,
    )


def _returned(body: dict[str, Any]) -> tuple[int | None, list[str]]:
    """How many results a body returns, and the face ids among them."""
    if "FaceMatches" in body:
        ids = [m["Face"]["FaceId"] for m in body["FaceMatches"] if "FaceId" in m.get("Face", {})]
        return len(body["FaceMatches"]), ids
    if "UserMatches" in body:
        return len(body["UserMatches"]), []
    if "FaceRecords" in body:
        return len(body["FaceRecords"]), [r["Face"]["FaceId"] for r in body["FaceRecords"]]
    if "DeletedFaces" in body:
        return len(body["DeletedFaces"]), list(body["DeletedFaces"])
    if "AssociatedFaces" in body:
        return len(body["AssociatedFaces"]), [f["FaceId"] for f in body["AssociatedFaces"]]
    if "DisassociatedFaces" in body:
        return len(body["DisassociatedFaces"]), [f["FaceId"] for f in body["DisassociatedFaces"]]
    if "FaceDetails" in body:
        return len(body["FaceDetails"]), []
    return None, []


async def record(services: Services, entry: Entry) -> None:
    await asyncio.to_thread(services.audit.append, entry)


async def execute(
    services: Services, operation: str, params: dict[str, Any], ctx: Context
) -> Outcome:
    """Run ``operation`` for ``ctx.caller`` under the policies (see the module docstring)."""
    principal = ctx.caller
    inputs = ctx.inputs
    entry = entry_for(principal, None, operation, ctx.request_id)
    decision: Decision | None = None
    async with Acting(services.audit, entry, fill=_fill) as act:
        recorder = ctx.record = act.recorder
        try:
            if operation == "IndexFaces":  # ENROLLMENT-BASIS: the collection's defaults fill gaps
                basis, provenance, keeps = await asyncio.to_thread(
                    services.gallery.enrollment_defaults,
                    principal.organization_id,
                    params["CollectionId"],
                )
                inputs = replace(
                    inputs, basis=inputs.basis or basis, provenance=inputs.provenance or provenance
                )
                ctx.inputs = inputs
                ctx.keep_crops = keeps
            video_seconds = 0
            if operation in VIDEO_START or operation in VIDEO_READ:
                video_seconds = await _video(services, operation, params, ctx)
            question = question_of(operation, params, principal, inputs, video_seconds)
            entry.resource = question.resource.describe()
            entry.case_reference, entry.warrant_reference = inputs.case, inputs.warrant
            decision = await asyncio.to_thread(services.point.decide, principal, question)
            entry.requested_threshold = decision.requested_threshold
            entry.effective_threshold = decision.effective_threshold
            if decision.counted:
                recorder.also.append(partial(services.point.persist, decision=decision))
            admit(entry, decision)
        except FacegateError as error:
            if decision is not None and not decision.allowed:
                error.headers = governance_headers(decision)
            raise
        entry.reasons = decision.reasons
        ctx.keep_crops = ctx.keep_crops or decision.review_required
        ctx.review_required = decision.review_required
        ctx.requested_threshold = decision.requested_threshold
        ctx.max_matches = question.max_results or ctx.max_matches
        if principal.use_case_id is not None:
            ctx.delete_by = deadline(
                decision.at, principal.use_case_expires, principal.retention_years
            )
        run = shaped(operation, params, decision, question)
        body = await OPERATIONS[operation](run, ctx)
        if operation not in IDENTIFY:  # a search's record is written with its review, below
            recorder.answer = body
        review_id = None
        if operation in IDENTIFY:
            body, review_id = await asyncio.to_thread(
                _conclude_search, services, ctx, decision, params["CollectionId"], body
            )
        return Outcome(body, decision, review_id)


def _fill(entry: Entry, body: dict[str, Any]) -> None:
    entry.result_count, entry.face_ids = _returned(body)


def _conclude_search(
    services: Services, ctx: Context, decision: Decision, collection: str, body: dict[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """One transaction: the matched faces' last interaction, the review if one is due, and
    the search's record (it names the review, or the faces returned)."""
    principal = ctx.caller
    matched = [m["Face"]["FaceId"] for m in body.get("FaceMatches", [])]
    users = [m["User"]["UserId"] for m in body.get("UserMatches", [])]
    review_id = None
    with services.gallery.sessions.begin() as s:
        touch(s, principal.organization_id, collection, matched, users, decision.at)
        if decision.review_required:
            review_id = services.reviews.open(
                principal,
                operation=decision.operation,
                collection=collection,
                case_reference=ctx.inputs.case,
                requested_threshold=decision.requested_threshold or 0.0,
                effective_threshold=decision.effective_threshold or 0.0,
                result=body,
                probe_crop=ctx.probe_crop,
                session=s,
            )
            body = withheld(body)
            ctx.record.entry.review_id = review_id  # type: ignore[union-attr]
        assert ctx.record is not None
        ctx.record(s, body)
    return body, review_id

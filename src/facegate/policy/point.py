"""The one policy decision point: every operation of every front door asks it first.

It turns a principal (what a key is) and a question (operation, resource, what the request
carries) into Cedar requests, asks the policy set, and answers a :class:`Decision`: allowed or
not, which policies decided it, the policy set's version, the error a denial answers with (its
message names the rule and says what would make the request allowed), and the shaping the
rules impose on an allowed request: the effective threshold (THRESHOLD-FLOOR) and whether
candidates go to human review (HUMAN-REVIEW). It never sees image bytes.

Cedar skips a policy whose evaluation fails; here an evaluation error fails closed: the request
is denied and the error named, so a broken operator policy can never open a door.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from facegate import errors
from facegate.db import utcnow
from facegate.fairness.gate import GateStatus
from facegate.policy.engine import (
    Policy,
    PolicySet,
    datetime_value,
    decimal,
    entity,
    entity_ref,
    ref,
)
from facegate.policy.limits import SEARCHES, VIDEO_SECONDS, Counters, Usage
from facegate.policy.registry import Principal

# Operation classes of the operations facegate serves (policy-rules.md), for counting and
# for the shaping questions.
IDENTIFY = {"SearchFaces", "SearchFacesByImage", "SearchUsers", "SearchUsersByImage"}
VIDEO_IDENTIFY = {"StartFaceSearch"}
# The Rekognition operations both front doors serve (facegate.api.operations has one handler
# for each); the accountability report says from them which capabilities this version offers.
SERVED_OPERATIONS = frozenset(
    {
        "DetectFaces",
        "CompareFaces",
        "CreateCollection",
        "DescribeCollection",
        "ListCollections",
        "DeleteCollection",
        "IndexFaces",
        "ListFaces",
        "DeleteFaces",
        "SearchFaces",
        "SearchFacesByImage",
        "CreateUser",
        "DeleteUser",
        "ListUsers",
        "AssociateFaces",
        "DisassociateFaces",
        "SearchUsers",
        "SearchUsersByImage",
        "StartFaceDetection",
        "GetFaceDetection",
        "StartFaceSearch",
        "GetFaceSearch",
    }
)
# Operations whose principal's review obligation matters: searches, and the operations that
# create or fill a collection (which then keeps encrypted crops for reviewers).
REVIEW_RELEVANT = IDENTIFY | VIDEO_IDENTIFY | {"CreateCollection", "IndexFaces"}
# Operations whose resource is the organization's account, not a collection.
ACCOUNT_OPERATIONS = frozenset(
    {
        "DetectFaces",
        "StartFaceDetection",
        "CompareFaces",
        "ListCollections",
        "GetFaceDetection",
        "GetFaceSearch",
        "UploadVideo",
        "ListVideos",
        "GetVideo",
        "DeleteVideo",
        "ListVideoJobs",
        "GetVideoJob",
        "CancelVideoJob",
        "CreateStreamProcessor",
        "StartStreamProcessor",
        "ListReviews",
        "Administer",
        "RegisterUseCase",
        "ListUseCases",
        "EraseSubject",
        "ListDeletionReceipts",
        "ReadAudit",
        "ExportAudit",
        "VerifyAudit",
        "MakeReport",
        "ViewReports",
        *(
            "RegisterCamera",
            "ListCameras",
            "RequestFootage",
            "ListFootageRequests",
            "GetFootageRequest",
            "DecideFootageRequest",
            "CloseFootageRequest",
            "ShareFootage",
        ),
    }
)
# Evaluation order of policy-rules.md: the first deciding rule in this order picks the error.
RULE_ORDER = (
    "TENANT",
    "NO-REALTIME",
    "NO-ATTRIBUTES",
    "MORATORIUM",
    "OPERATOR-ONLY",
    "AUDIT-ACCESS",
    "ORG-ADMIN",
    "ROLES",
    "LIMITED-ACCESS",
    "ENROLLMENT-BASIS",
    "CASE-REFERENCE",
    "WARRANT",
    "FOOTAGE-CONSENT",
    "FAIRNESS-GATE",
    "SURVEILLANCE-LIMITS",
    "HUMAN-REVIEW",
)
DEFAULT_FLOOR = 99.0
OPEN_GATE = GateStatus(enabled=False, passed=True)


@dataclass(frozen=True)
class Resource:
    kind: str  # Account, Collection or Review
    id: str
    organization_id: int
    organization: str
    requester: str = ""  # reviews: who asked

    def describe(self) -> str:
        return f"{self.kind.lower()}/{self.organization}/{self.id}"


@dataclass(frozen=True)
class Inputs:
    """What a request carries for the rules besides its operation parameters."""

    case: str = ""
    warrant: str = ""
    basis: str = ""
    provenance: str = ""


@dataclass(frozen=True)
class FootageFacts:
    """What FOOTAGE-CONSENT decides a share of footage on (``context.footage``)."""

    owner: bool  # the caller owns the camera
    consent: str  # the camera's decision on the request, "none" if it is not in the request
    request_open: bool
    window_start: datetime
    window_end: datetime
    recorded_from: datetime
    recorded_to: datetime  # the clip's end; its start while the duration is not known yet


@dataclass(frozen=True)
class Question:
    operation: str
    resource: Resource
    inputs: Inputs = Inputs()
    attributes: tuple[str, ...] = ()
    threshold: float | None = None  # the requested similarity threshold
    max_results: int = 0
    video_seconds: int = 0
    footage: FootageFacts | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    operation: str
    version: str
    at: datetime
    policies: tuple[str, ...]  # ids of the deciding policies (and the shaping ones applied)
    rules: tuple[str, ...]  # their catalogue rules
    error: errors.FacegateError | None = None
    requested_threshold: float | None = None
    effective_threshold: float | None = None
    review_required: bool = False
    notes: tuple[str, ...] = ()
    matched: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    # SURVEILLANCE-LIMITS counts made for this decision, written with the request's record.
    counted: tuple[Usage, ...] = ()

    @property
    def reasons(self) -> str:
        return self.error.message if self.error else "; ".join(self.notes)


def cedar_time(moment: datetime) -> str:
    """A datetime in the form Cedar's ``datetime()`` reads (UTC, milliseconds)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _error_class(name: str) -> type[errors.FacegateError]:
    found = getattr(errors, name, None)
    if isinstance(found, type) and issubclass(found, errors.FacegateError):
        return found
    return errors.AccessDeniedException


def _rank(policy: Policy) -> tuple[int, str]:
    order = RULE_ORDER.index(policy.rule) if policy.rule in RULE_ORDER else len(RULE_ORDER)
    return order, policy.id


def denial(policies: tuple[Policy, ...]) -> errors.FacegateError:
    """The error for a denial by ``policies``: the first rule's type, every rule named."""
    ordered = sorted(policies, key=_rank)
    first = ordered[0]
    label = first.rule if first.rule == first.id else f"{first.rule} ({first.id})"
    message = f"Denied by {label}: {first.advice or 'an operator policy forbids this request.'}"
    others = [p.id for p in ordered[1:]]
    if others:
        message += f" Also denied by: {', '.join(others)}."
    rules = tuple(dict.fromkeys(p.rule for p in ordered))
    return _error_class(first.error)(message, rules)


class DecisionPoint:
    def __init__(
        self,
        policies: PolicySet,
        counters: Counters,
        *,
        floors: dict[str, float] | None = None,
        default_floor: float = DEFAULT_FLOOR,
        moratorium_end: datetime | None = None,
        clock: Callable[[], datetime] = utcnow,
        gate: Callable[[], GateStatus] | None = None,
    ):
        self.policies = policies
        self.counters = counters
        self.floors = dict(floors or {})
        self.default_floor = default_floor
        self.moratorium_end = moratorium_end
        self.clock = clock
        self.gate = gate or (lambda: OPEN_GATE)

    @property
    def version(self) -> str:
        return self.policies.version

    def floor_for(self, purpose: str) -> float:
        return self.floors.get(purpose, self.default_floor)

    # --- Cedar requests --------------------------------------------------------------------

    def _entities(self, p: Principal, r: Resource) -> list[dict[str, Any]]:
        org_uid = str(p.organization_id)
        attrs: dict[str, Any] = {
            "organization": entity_ref("Organization", org_uid),
            "sector": p.sector,
            "operator": p.operator,
            "holder": p.holder,
            "roles": list(p.roles),
            "use_case": p.use_case_id or 0,
            "purpose": p.purpose,
            "use_case_status": p.use_case_status,
            "operations": list(p.operations),
            "human_review": p.human_review,
            "realtime": p.realtime,
            "exemptions": list(p.exemptions),
            **p.caps,
        }
        out = [
            entity("Organization", org_uid, {"name": p.organization, "sector": p.sector}),
            entity("Key", p.access_key_id, attrs, [("Organization", org_uid)]),
        ]
        resource_org = str(r.organization_id)
        if resource_org != org_uid:
            out.append(entity("Organization", resource_org, {"name": r.organization, "sector": ""}))
        rattrs: dict[str, Any] = {"organization": entity_ref("Organization", resource_org)}
        if r.kind == "Collection":
            rattrs["name"] = r.id
        elif r.kind == "Review":
            rattrs["requester"] = r.requester
        out.append(entity(r.kind, self._resource_uid(r), rattrs))
        return out

    @staticmethod
    def _resource_uid(r: Resource) -> str:
        return f"{r.organization_id}/{r.id}"

    def _context(
        self, p: Principal, q: Question, now: datetime, usage: dict[str, int]
    ) -> dict[str, Any]:
        context: dict[str, Any] = {
            "now": datetime_value(cedar_time(now)),
            "weekday": now.astimezone(UTC).isoweekday(),
            "hour": now.astimezone(UTC).hour,
            "case": q.inputs.case,
            "warrant": q.inputs.warrant,
            "basis": q.inputs.basis,
            "provenance": q.inputs.provenance,
            "attributes": list(q.attributes),
            "threshold": decimal(q.threshold or 0.0),
            "floor": decimal(self.floor_for(p.purpose)),
            "max_results": int(q.max_results),
            "searches_this_hour": usage["searches_this_hour"],
            "searches_today": usage["searches_today"],
            "video_seconds_today": usage["video_seconds_today"],
            "video_seconds": int(q.video_seconds),
            "fairness_gate_closed": self.gate().closed,
        }
        if self.moratorium_end is not None:
            context["moratorium_end"] = datetime_value(cedar_time(self.moratorium_end))
        if q.footage is not None:
            f = q.footage
            context["footage"] = {
                "owner": f.owner,
                "consent": f.consent,
                "request_open": f.request_open,
                **{
                    name: datetime_value(cedar_time(getattr(f, name)))
                    for name in ("window_start", "window_end", "recorded_from", "recorded_to")
                },
            }
        return context

    def _ask(
        self, p: Principal, q: Question, now: datetime, usage: dict[str, int]
    ) -> tuple[Any, Any, Any]:
        context = self._context(p, q, now, usage)
        principal = ref("Key", p.access_key_id)
        resource = ref(q.resource.kind, self._resource_uid(q.resource))
        requests = [
            {
                "principal": principal,
                "action": ref("Action", q.operation),
                "resource": resource,
                "context": context,
            }
        ]
        # THRESHOLD-FLOOR can only bind below the floor: at or above it the question is moot.
        shaping = (
            q.operation in IDENTIFY | VIDEO_IDENTIFY | {"CompareFaces"}
            and q.threshold is not None
            and q.threshold < self.floor_for(p.purpose)
        )
        if shaping:
            requests.append({**requests[0], "action": ref("Action", "UseThreshold")})
        if q.operation in REVIEW_RELEVANT:
            requests.append({**requests[0], "action": ref("Action", "ReleaseCandidates")})
        results = self.policies.evaluate(requests, self._entities(p, q.resource))
        main = results[0]
        floor = results[1] if shaping else None
        review = results[-1] if q.operation in REVIEW_RELEVANT else None
        return main, floor, review

    # --- deciding --------------------------------------------------------------------------

    def decide(self, p: Principal, q: Question, *, count: bool = True) -> Decision:
        """The decision for ``q`` by ``p``; allowed identifications are counted (caps).

        The counts are made in memory (the next decision sees them); the caller writes
        ``decision.counted`` to SQL with the request's record (:meth:`persist`).
        """
        counted = count and p.use_case_id is not None and q.operation in IDENTIFY | VIDEO_IDENTIFY
        if not counted:
            return self._decide(p, q, self.clock())
        with self.counters.lock:
            now = self.clock()
            decision = self._decide(p, q, now)
            if decision.allowed:
                assert p.use_case_id is not None
                counts = [self.counters.reserve(p.use_case_id, SEARCHES, 1, now)]
                if q.video_seconds:
                    counts.append(
                        self.counters.reserve(p.use_case_id, VIDEO_SECONDS, q.video_seconds, now)
                    )
                decision = replace(decision, counted=tuple(counts))
            return decision

    def persist(self, s: Any, decision: Decision) -> None:
        """Write the decision's counts in ``s``'s transaction (the request's record's)."""
        for usage in decision.counted:
            self.counters.persist(s, usage)

    def _decide(self, p: Principal, q: Question, now: datetime) -> Decision:
        usage = self.counters.usage(p.use_case_id, now)
        return self._conclude(p, q, now, *self._ask(p, q, now, usage))

    def _conclude(
        self, p: Principal, q: Question, now: datetime, main: Any, floor: Any, review: Any
    ) -> Decision:
        """The decision from Cedar's answers to the operation and the shaping questions."""
        base: dict[str, Any] = {"operation": q.operation, "version": self.version, "at": now}
        evaluation_errors = [
            *main.errors,
            *(floor.errors if floor else ()),
            *(review.errors if review else ()),
        ]
        error: errors.FacegateError
        if evaluation_errors:
            error = errors.AccessDeniedException(
                "Denied: a policy could not be evaluated, and facegate fails closed. The "
                f"operator must fix the policy set ({evaluation_errors[0]}).",
                ("POLICY-ERROR",),
            )
            return Decision(False, policies=(), rules=("POLICY-ERROR",), error=error, **base)
        if not main.allowed:
            deciding = tuple(sorted(main.policies, key=_rank))
            if not deciding:  # no permit matched: an operator removed nothing, so a defect
                error = errors.AccessDeniedException(
                    "Denied: no policy permits this request.", ("DEFAULT-DENY",)
                )
                return Decision(False, policies=(), rules=("DEFAULT-DENY",), error=error, **base)
            error = denial(deciding)
            if "FAIRNESS-GATE" in error.rules:  # name the audit and the measure that failed
                error.message += f" ({self.gate().message})"
            return Decision(
                False,
                policies=tuple(x.id for x in deciding),
                rules=tuple(dict.fromkeys(x.rule for x in deciding)),
                error=error,
                requested_threshold=q.threshold,
                **base,
            )
        applied: list[Policy] = list(main.policies)
        notes = []
        effective = q.threshold
        if floor is not None and not floor.allowed:
            effective = max(q.threshold or 0.0, self.floor_for(p.purpose))
            applied += floor.policies
            notes.append(
                f"THRESHOLD-FLOOR: threshold {q.threshold:g} raised to the floor {effective:g}."
            )
        review_required = review is not None and not review.allowed
        if review_required:
            applied += review.policies
            if q.operation in IDENTIFY | VIDEO_IDENTIFY:
                notes.append("HUMAN-REVIEW: candidates are held for a reviewer.")
        return Decision(
            True,
            policies=tuple(dict.fromkeys(x.id for x in applied)),
            rules=tuple(dict.fromkeys(x.rule for x in applied)),
            requested_threshold=q.threshold,
            effective_threshold=effective,
            review_required=review_required,
            notes=tuple(notes),
            **base,
        )

    def explain(self, p: Principal, q: Question, at: datetime | None = None) -> dict[str, Any]:
        """Which policies allow or deny ``q`` for ``p``, without running or counting it."""
        now = at or self.clock()
        usage = self.counters.usage(p.use_case_id, now)
        main, floor, review = self._ask(p, q, now, usage)
        decision = self._conclude(p, q, now, main, floor, review)

        def listed(policies: tuple[Policy, ...]) -> list[dict[str, str]]:
            return [
                {
                    "id": x.id,
                    "rule": x.rule,
                    "effect": x.effect,
                    "advice": x.advice,
                    "source": x.source,
                }
                for x in sorted(policies, key=_rank)
            ]

        return {
            "decision": "allow" if decision.allowed else "deny",
            "operation": q.operation,
            "at": now.isoformat(),
            "policy_version": self.version,
            "deciding_policies": listed(main.policies),
            "error": decision.error.type_name if decision.error else None,
            "message": decision.error.message if decision.error else None,
            "requested_threshold": q.threshold,
            "effective_threshold": decision.effective_threshold,
            "threshold_floor": listed(floor.policies) if floor and not floor.allowed else [],
            "human_review": decision.review_required,
            "human_review_policies": listed(review.policies)
            if review and not review.allowed
            else [],
            "usage": usage,
        }

"""The timed scenarios of bench/policy.py: principals, questions and the decisions expected.

Scenarios a-d ask with ``Principal.described`` (no use case, no SQL); e with real keys of a
law-enforcement organization's use cases in a SQLite database, so the decision reads the
usage counters. The decision point runs on a fixed clock.
"""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from _common import WallCpu
from facegate.audit.log import AuditLog, Entry, Recorder
from facegate.auth.secrets import SecretBox
from facegate.db.engine import open_database
from facegate.policy.accounts import Accounts
from facegate.policy.engine import PolicySet
from facegate.policy.limits import SEARCHES, Counters
from facegate.policy.point import Decision, DecisionPoint, Inputs, Question, Resource
from facegate.policy.registry import Principal, Registry

# Wednesday (weekday 3), 14:30 UTC: outside every weekday/hour and blackout operator policy.
FIXED_NOW = datetime.datetime(2025, 6, 11, 14, 30, 0, tzinfo=datetime.UTC)
DEFAULT_FLOOR = 99.0


@dataclass
class Expected:
    """What a scenario's decision must be."""

    allowed: bool
    policies: tuple[str, ...]
    effective_threshold: float | None = None
    review_required: bool = False

    def matches(self, d: Decision) -> bool:
        return (
            d.allowed == self.allowed
            and d.policies == self.policies
            and d.effective_threshold == self.effective_threshold
            and d.review_required == self.review_required
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "policies": list(self.policies),
            "effective_threshold": self.effective_threshold,
            "review_required": self.review_required,
        }


@dataclass
class Scenario:
    name: str
    policy_set: str
    description: str
    run: Callable[[], Any]
    decisions: int
    warmup: int
    check: Callable[[Any], bool] | None = None
    expected: Expected | None = None
    timing: WallCpu = field(default_factory=WallCpu)
    mismatches: int = 0
    sample: Any = None


def decision_record(d: Decision) -> dict[str, Any]:
    """A decision, as a reader checks that the scenario did what it says."""
    return {
        "allowed": d.allowed,
        "policies": list(d.policies),
        "rules": list(d.rules),
        "error": d.error.type_name if d.error else None,
        "message": d.error.message if d.error else None,
        "requested_threshold": d.requested_threshold,
        "effective_threshold": d.effective_threshold,
        "review_required": d.review_required,
        "notes": list(d.notes),
        "policy_version": d.version,
    }


class CapturingPolicySet:
    """Stands in for a PolicySet for one decide() and keeps what it was asked."""

    def __init__(self, inner: PolicySet):
        self.inner = inner
        self.calls: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def evaluate(self, requests, entities):
        self.calls.append((list(requests), entities))
        return self.inner.evaluate(requests, entities)


def capture_evaluate_args(
    point: DecisionPoint, principal: Principal, question: Question
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The Cedar requests and entities that ``point.decide`` sends for ``question``."""
    real = point.policies
    capturing = CapturingPolicySet(real)
    point.policies = capturing  # type: ignore[assignment]
    try:
        point.decide(principal, question, count=False)
    finally:
        point.policies = real
    return capturing.calls[0]


@dataclass
class Database:
    """A SQLite database with a law-enforcement organization, its exemption and use cases."""

    sessions: Any
    organization_id: int
    organization: str
    principals: dict[str, Principal]


def make_database(workdir: Path) -> Database:
    """Organization, missing_persons exemption, three approved use cases and their keys."""
    sessions = open_database(f"sqlite:///{workdir}/bench.db")
    accounts = Accounts(sessions, SecretBox(Fernet.generate_key()))
    registry = Registry(sessions)
    name = "bench-police"
    audit = AuditLog(sessions)

    def record(action: str) -> Recorder:  # the set-up's changes are on the record too
        return Recorder(audit, Entry(operation=f"Admin.{action}", decision="allow", member="bench"))

    org_id = accounts.create_organization(
        name, sector="law_enforcement", record=record("CreateOrganization")
    )
    future = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=365)
    registry.grant_exemption(
        name,
        "missing_persons",
        "benchmark: vetted missing-persons unit",
        future,
        "bench",
        record=record("GrantExemption"),
    )
    principals = {}
    for label in ("read", "rows", "counted"):
        use_case = registry.register_use_case(
            name,
            purpose="missing_persons",
            description=f"benchmark use case ({label})",
            legal_basis="benchmark",
            operations=["verify", "identify"],
            expires=future,
            registered_by="bench",
            searches_per_hour=1_000_000,
            searches_per_day=10_000_000,
            record=record("RegisterUseCase"),
        )
        registry.decide_use_case(
            use_case["id"], "approve", "bench", "benchmark", record=record("DecideUseCase")
        )
        key = accounts.issue_key(
            name, label, use_case_id=use_case["id"], registry=registry, record=record("IssueKey")
        )
        principals[label] = registry.principal(key.access_key_id, FIXED_NOW)
    return Database(sessions, org_id, name, principals)


def make_point(policies: PolicySet, counters: Counters, now: datetime.datetime) -> DecisionPoint:
    return DecisionPoint(policies, counters, default_floor=DEFAULT_FLOOR, clock=lambda: now)


def described_collection(name: str = "family-photos") -> Resource:
    return Resource("Collection", name, 0, "(described)")


def commercial_search_principal() -> Principal:
    """Scenario b's principal: commercial, photo organization."""
    return Principal.described(
        sector="commercial",
        purpose="photo_organization",
        operations=("verify", "identify", "enroll"),
    )


def commercial_search() -> Question:
    """Scenario b's question: a search of a described collection, threshold 80."""
    return Question("SearchFacesByImage", described_collection(), threshold=80.0, max_results=10)


def case_search(resource: Resource, case: str, threshold: float) -> Question:
    """A search for 5 faces under a case reference."""
    return Question(
        "SearchFacesByImage", resource, Inputs(case=case), threshold=threshold, max_results=5
    )


def scenarios_for(
    set_name: str, policies: PolicySet, db: Database, args: argparse.Namespace
) -> tuple[list[Scenario], dict[str, Any]]:
    """The timed scenarios of one policy set, and the untimed information about them."""
    counters = Counters(db.sessions)
    point = make_point(policies, counters, FIXED_NOW)
    described_account = Resource("Account", "account", 0, "(described)")
    police_collection = Resource("Collection", "missing-2025", db.organization_id, db.organization)

    commercial_detect = Principal.described(sector="commercial")
    commercial = commercial_search_principal()
    criminal = Principal.described(
        sector="law_enforcement",
        purpose="criminal_investigation",
        operations=("verify", "identify", "video-identify", "enroll"),
    )
    missing = Principal.described(
        sector="law_enforcement",
        purpose="missing_persons",
        operations=("verify", "identify"),
        exemptions=("missing_persons",),
    )
    detect = Question("DetectFaces", described_account, attributes=("DEFAULT",))
    search_b = commercial_search()
    search_c = case_search(described_collection(), "C-2025-0042", 95.0)
    search_d = case_search(described_collection(), "C-1", 80.0)
    search_e = case_search(police_collection, "C-1", 80.0)
    shaped = ("BASELINE", "THRESHOLD-FLOOR", "HUMAN-REVIEW")
    moratorium = ("MORATORIUM",) if set_name == "default" else ("MORATORIUM", "OPS-MISC-10")

    # e2 reads a use case that already has its hour and day counter rows.
    counters.add(db.principals["rows"].use_case_id or 0, SEARCHES, 1, FIXED_NOW)

    n, w = args.decisions, args.warmup
    nw, ww = args.write_decisions, max(1, args.warmup // 10)

    def decide(p: Principal, q: Question, count: bool = True) -> Callable[[], Decision]:
        return lambda: point.decide(p, q, count=count)

    spec = [
        ("a_detect", "allowed DetectFaces, commercial", decide(commercial_detect, detect), n, w,
         Expected(True, ("BASELINE",))),
        ("b_search_commercial", "allowed SearchFacesByImage t=80, commercial photo_organization",
         decide(commercial, search_b), n, w, Expected(True, ("BASELINE",), 80.0)),
        ("c_search_moratorium", "SearchFacesByImage, law_enforcement criminal_investigation",
         decide(criminal, search_c), n, w, Expected(False, moratorium)),
        ("d_identify_shaped", "allowed SearchFacesByImage t=80 case C-1, law_enforcement "
         "missing_persons with exemption: THRESHOLD-FLOOR and HUMAN-REVIEW shaping",
         decide(missing, search_d), n, w, Expected(True, shaped, DEFAULT_FLOOR, True)),
        ("e1_usage_read", "d by a real key with a use case, count=False: SQL usage read "
         "(no counter rows)", decide(db.principals["read"], search_e, False), n, w,
         Expected(True, shaped, DEFAULT_FLOOR, True)),
        ("e2_usage_read_rows", "as e1, the use case has its hour and day counter rows "
         "(2 rows read)", decide(db.principals["rows"], search_e, False), n, w,
         Expected(True, shaped, DEFAULT_FLOOR, True)),
        ("e3_counted", "as e1, count=True: usage read + the count made in memory (written to "
         "SQL with the request's record)", decide(db.principals["counted"], search_e, True),
         nw, ww,
         Expected(True, shaped, DEFAULT_FLOOR, True)),
    ]  # fmt: skip
    scenarios = [
        Scenario(name, set_name, text, run, count, warm, expected.matches, expected)
        for name, text, run, count, warm, expected in spec
    ]

    requests, entities = capture_evaluate_args(point, commercial, search_b)
    scenarios.append(
        Scenario(
            "b_bare_evaluate",
            set_name,
            "PolicySet.evaluate alone on scenario b's 3 Cedar requests and entities",
            lambda: policies.evaluate(requests, entities),
            n,
            w,
            check=lambda results: [r.allowed for r in results] == [True, True, True],
        )
    )
    info = {
        "b_cedar_requests": [
            {"action": r["action"]["id"], "resource": r["resource"]} for r in requests
        ],
        "b_context": requests[0]["context"],
        "b_entities": entities,
    }
    return scenarios, info


def operator_policy_checks(policies: PolicySet, db: Database) -> list[dict[str, Any]]:
    """Untimed: requests that operator policies must deny, so the 100 are known to be live."""
    counters = Counters(db.sessions)
    commercial = Principal.described(
        sector="commercial", purpose="photo_organization", operations=("verify", "identify")
    )
    sunday_night = datetime.datetime(2025, 6, 15, 3, 0, tzinfo=datetime.UTC)
    christmas = datetime.datetime(2025, 12, 25, 12, tzinfo=datetime.UTC)
    checks = [
        ("test case reference", FIXED_NOW, Inputs(case="TEST-7"), {}, 80.0, "OPS-CASE-01"),
        ("Sunday 03:00 UTC", sunday_night, Inputs(), {}, 80.0, "OPS-HOURS-07"),
        ("collection named like *school*", FIXED_NOW, Inputs(), {"name": "school-yearbook"},
         80.0, "OPS-COLLECTION-04"),
        ("threshold 65 < 70 for commercial", FIXED_NOW, Inputs(), {}, 65.0, "OPS-THRESHOLD-01"),
        ("Christmas 2025 blackout", christmas, Inputs(), {}, 80.0, "OPS-BLACKOUT-05"),
    ]  # fmt: skip
    out = []
    for what, now, inputs, resource, threshold, policy_id in checks:
        point = make_point(policies, counters, now)
        q = Question(
            "SearchFacesByImage",
            described_collection(**resource),
            inputs,
            threshold=threshold,
            max_results=10,
        )
        d = point.decide(commercial, q, count=False)
        out.append(
            {
                "request": f"commercial SearchFacesByImage, {what}",
                "expected_denial_by": policy_id,
                "allowed": d.allowed,
                "policies": list(d.policies),
                "pass": (not d.allowed) and policy_id in d.policies,
            }
        )
    return out

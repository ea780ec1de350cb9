"""The policy decision point with the real Cedar policies and real SQL, rule by rule.

Table-driven: each row is a principal (sector, use case, exemption, roles, caps), an operation,
what the request carries, the instant, and the exact decision and rule ids expected. The same
tables run through boto3 and REST in test_governance.py; here they run exhaustively and fast.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from facegate import errors
from facegate.audit.log import AuditLog, Entry, Recorder
from facegate.auth.secrets import SecretBox
from facegate.db.engine import open_database
from facegate.policy.accounts import Accounts
from facegate.policy.engine import PolicyError, PolicySet, load_policy_set
from facegate.policy.limits import Counters
from facegate.policy.point import (
    ACCOUNT_OPERATIONS,
    DecisionPoint,
    FootageFacts,
    Inputs,
    Question,
    Resource,
)
from facegate.policy.registry import Principal, Registry

DURING = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)  # a Thursday
BEFORE = datetime(2020, 6, 9, 23, 59, tzinfo=UTC)
ON_START = datetime(2020, 6, 10, 0, 0, tzinfo=UTC)
END = datetime(2024, 1, 1, tzinfo=UTC)
GATED = ("verify", "identify", "video-identify", "enroll")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sessions(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('pdp')}/facegate.db"
    else:
        url = request.getfixturevalue("postgres_databases")()
    return open_database(url)


def point(sessions, at: datetime = DURING, **kw) -> DecisionPoint:
    return DecisionPoint(load_policy_set(None, "tests"), Counters(sessions), clock=lambda: at, **kw)


def who(sector: str, purpose: str = "", ops=GATED, exempt=(), roles=("analyst",), **kw):
    return Principal.described(
        sector=sector,
        purpose=purpose,
        operations=ops if purpose else (),
        exemptions=exempt,
        roles=roles,
        **kw,
    )


def ask(p: Principal, operation: str, **kw) -> Question:
    kind = "Account" if operation in ACCOUNT_OPERATIONS else "Collection"
    threshold = kw.pop("threshold", 80.0 if operation in THRESHOLDED else None)
    return Question(
        operation,
        Resource(kind, "c", p.organization_id, p.organization),
        Inputs(**kw.pop("inputs", {})),
        threshold=threshold,
        **kw,
    )


THRESHOLDED = {"CompareFaces", "SearchFacesByImage", "SearchFaces", "SearchUsers"}
CASE = {"case": "CASE-2026-001"}
BASIS = {"basis": "consent:form-17", "provenance": "enrollment desk"}

# (sector, purpose, exemptions, operation, inputs, expected rules or "allow")
SECTOR_TABLE = [
    # MORATORIUM: law enforcement cannot verify, identify, enroll ...
    ("law_enforcement", "criminal_investigation", (), "SearchFacesByImage", CASE, ["MORATORIUM"]),
    ("law_enforcement", "criminal_investigation", (), "CompareFaces", CASE, ["MORATORIUM"]),
    ("law_enforcement", "criminal_investigation", (), "IndexFaces", BASIS, ["MORATORIUM"]),
    ("law_enforcement", "criminal_investigation", (), "AssociateFaces", {}, ["MORATORIUM"]),
    # ... even with an exemption, when the key's purpose is not the exempted one
    (
        "law_enforcement",
        "criminal_investigation",
        ("missing_persons",),
        "SearchFaces",
        CASE,
        ["MORATORIUM"],
    ),
    # ... or with the right purpose but no exemption
    ("law_enforcement", "missing_persons", (), "SearchFacesByImage", CASE, ["MORATORIUM"]),
    (
        "law_enforcement",
        "trafficking_victims",
        ("missing_persons",),
        "SearchUsers",
        CASE,
        ["MORATORIUM"],
    ),
    # exempt: the exemption AND the key's purpose
    (
        "law_enforcement",
        "missing_persons",
        ("missing_persons",),
        "SearchFacesByImage",
        CASE,
        "allow",
    ),
    (
        "law_enforcement",
        "trafficking_victims",
        ("trafficking_victims",),
        "CompareFaces",
        CASE,
        "allow",
    ),
    ("law_enforcement", "missing_persons", ("missing_persons",), "IndexFaces", BASIS, "allow"),
    # detection and management stay open to law enforcement
    ("law_enforcement", "criminal_investigation", (), "DetectFaces", {}, "allow"),
    ("law_enforcement", "criminal_investigation", (), "CreateCollection", {}, "allow"),
    ("law_enforcement", "criminal_investigation", (), "DeleteFaces", {}, "allow"),
    # CASE-REFERENCE: law enforcement and government need a case reference
    (
        "law_enforcement",
        "missing_persons",
        ("missing_persons",),
        "SearchFacesByImage",
        {},
        ["CASE-REFERENCE"],
    ),
    ("government", "identity_verification", (), "CompareFaces", {}, ["CASE-REFERENCE"]),
    ("government", "identity_verification", (), "CompareFaces", CASE, "allow"),
    ("government", "access_control", (), "SearchFacesByImage", {}, ["CASE-REFERENCE"]),
    ("government", "access_control", (), "SearchFacesByImage", CASE, "allow"),
    # both at once: every rule is named, the moratorium first
    (
        "law_enforcement",
        "criminal_investigation",
        (),
        "SearchFaces",
        {},
        ["MORATORIUM", "CASE-REFERENCE"],
    ),
    # other sectors need no case reference
    ("commercial", "photo_organization", (), "SearchFacesByImage", {}, "allow"),
    ("nonprofit", "missing_persons", (), "SearchFacesByImage", {}, "allow"),
    ("research", "research_evaluation", (), "CompareFaces", {}, "allow"),
    ("community", "access_control", (), "SearchFacesByImage", {}, "allow"),
    # ENROLLMENT-BASIS: every sector
    ("commercial", "photo_organization", (), "IndexFaces", {}, ["ENROLLMENT-BASIS"]),
    (
        "commercial",
        "photo_organization",
        (),
        "IndexFaces",
        {"basis": "consent:1"},
        ["ENROLLMENT-BASIS"],
    ),
    ("nonprofit", "missing_persons", (), "IndexFaces", BASIS, "allow"),
    # WARRANT: law-enforcement video identification
    (
        "law_enforcement",
        "missing_persons",
        ("missing_persons",),
        "StartFaceSearch",
        CASE,
        ["WARRANT"],
    ),
    (
        "law_enforcement",
        "missing_persons",
        ("missing_persons",),
        "StartFaceSearch",
        {**CASE, "warrant": "ORDER-7"},
        "allow",
    ),
    ("government", "missing_persons", (), "StartFaceSearch", CASE, "allow"),
]


def _expect(decision, expected) -> None:
    if expected == "allow":
        assert decision.allowed, decision.error and decision.error.message
        assert decision.error is None
        return
    assert not decision.allowed
    assert list(decision.rules) == expected
    assert decision.error is not None and decision.error.rules == tuple(expected)
    assert decision.error.message.startswith(f"Denied by {expected[0]}")


@pytest.mark.parametrize(
    "sector, purpose, exempt, operation, inputs, expected",
    SECTOR_TABLE,
    ids=[f"{r[0]}-{r[1]}-{'+'.join(r[2]) or 'none'}-{r[3]}-{len(r[4])}" for r in SECTOR_TABLE],
)
def test_sector_table(sessions, sector, purpose, exempt, operation, inputs, expected):
    decision = point(sessions).decide(
        who(sector, purpose, exempt=exempt), ask(who(sector), operation, inputs=inputs)
    )
    _expect(decision, expected)
    assert decision.version and len(decision.version) == 16


@pytest.mark.parametrize(
    "status, operations, operation, expected",
    [
        ("approved", GATED, "CompareFaces", "allow"),
        ("pending", GATED, "CompareFaces", ["LIMITED-ACCESS"]),
        ("rejected", GATED, "SearchFacesByImage", ["LIMITED-ACCESS"]),
        ("revoked", GATED, "IndexFaces", ["LIMITED-ACCESS"]),
        ("expired", GATED, "SearchUsersByImage", ["LIMITED-ACCESS"]),
        ("approved", ("verify",), "SearchFacesByImage", ["LIMITED-ACCESS"]),
        ("approved", ("identify",), "CompareFaces", ["LIMITED-ACCESS"]),
        ("approved", ("identify",), "SearchFacesByImage", "allow"),
        ("approved", ("verify",), "StartFaceSearch", ["LIMITED-ACCESS"]),
        # detection and management need no registration
        ("pending", (), "DetectFaces", "allow"),
        ("revoked", (), "ListCollections", "allow"),
    ],
)
def test_limited_access(sessions, status, operations, operation, expected):
    p = who("commercial", "photo_organization", ops=operations, use_case_status=status)
    _expect(point(sessions).decide(p, ask(p, operation, inputs=BASIS)), expected)


def test_a_key_without_use_case_can_only_detect_and_manage(sessions):
    p = who("commercial")
    assert point(sessions).decide(p, ask(p, "DetectFaces")).allowed
    assert point(sessions).decide(p, ask(p, "CreateCollection")).allowed
    for operation in ("CompareFaces", "SearchFacesByImage", "IndexFaces", "CreateUser"):
        _expect(point(sessions).decide(p, ask(p, operation, inputs=BASIS)), ["LIMITED-ACCESS"])


@pytest.mark.parametrize(
    "at, end, expected",
    [
        (BEFORE, None, "allow"),
        (ON_START, None, ["MORATORIUM"]),
        (DURING, None, ["MORATORIUM"]),
        (DURING + timedelta(days=3650), None, ["MORATORIUM"]),  # indefinite
        (END - timedelta(seconds=1), END, ["MORATORIUM"]),
        (END, END, "allow"),
        (DURING, END, "allow"),
    ],
)
def test_moratorium_in_time(sessions, at, end, expected):
    p = who("law_enforcement", "criminal_investigation")
    decision = point(sessions, at, moratorium_end=end).decide(
        p, ask(p, "SearchFacesByImage", inputs=CASE)
    )
    _expect(decision, expected)


@pytest.mark.parametrize(
    "sector, purpose, requested, expected",
    [
        ("law_enforcement", "missing_persons", 80.0, 99.0),
        ("law_enforcement", "missing_persons", 99.5, 99.5),
        ("government", "access_control", 50.0, 99.0),
        ("nonprofit", "missing_persons", 90.0, 99.0),
        ("commercial", "identity_verification", 95.0, 99.0),
        ("research", "trafficking_victims", 10.0, 99.0),
        ("commercial", "photo_organization", 80.0, 80.0),
        ("nonprofit", "media_archive", 70.0, 70.0),
    ],
)
def test_threshold_floor(sessions, sector, purpose, requested, expected):
    exempt = (purpose,) if sector == "law_enforcement" else ()
    p = who(sector, purpose, exempt=exempt)
    decision = point(sessions).decide(
        p, ask(p, "SearchFacesByImage", inputs=CASE, threshold=requested)
    )
    assert decision.allowed
    assert decision.requested_threshold == requested
    assert decision.effective_threshold == expected
    assert ("THRESHOLD-FLOOR" in decision.rules) == (expected > requested)


def test_floors_are_configurable_per_purpose(sessions):
    p = who("nonprofit", "missing_persons")
    pdp = point(sessions, floors={"missing_persons": 97.5}, default_floor=99.5)
    assert pdp.decide(p, ask(p, "CompareFaces", threshold=80)).effective_threshold == 97.5
    q = who("government", "access_control")
    assert pdp.decide(q, ask(q, "CompareFaces", threshold=80, inputs=CASE)).effective_threshold == (
        99.5
    )


@pytest.mark.parametrize(
    "sector, purpose, marked, expected",
    [
        ("law_enforcement", "missing_persons", False, True),
        ("government", "access_control", False, True),
        ("commercial", "access_control", False, False),
        ("commercial", "access_control", True, True),
        ("nonprofit", "missing_persons", False, False),
    ],
)
def test_human_review(sessions, sector, purpose, marked, expected):
    exempt = (purpose,) if sector == "law_enforcement" else ()
    p = who(sector, purpose, exempt=exempt, human_review=marked)
    for operation in ("SearchFacesByImage", "SearchFaces", "SearchUsersByImage"):
        decision = point(sessions).decide(p, ask(p, operation, inputs=CASE))
        assert decision.allowed and decision.review_required == expected
        assert ("HUMAN-REVIEW" in decision.rules) == expected
    # verification is never held for review
    assert not point(sessions).decide(p, ask(p, "CompareFaces", inputs=CASE)).review_required


def test_attributes_and_live_streams(sessions):
    p = who("commercial", "photo_organization")
    _expect(point(sessions).decide(p, ask(p, "DetectFaces", attributes=("DEFAULT",))), "allow")
    for asked in (("ALL",), ("DEFAULT", "EMOTIONS"), ("AGE_RANGE",), ("GENDER",)):
        decision = point(sessions).decide(p, ask(p, "DetectFaces", attributes=asked))
        _expect(decision, ["NO-ATTRIBUTES"])
        indexed = point(sessions).decide(p, ask(p, "IndexFaces", attributes=asked, inputs=BASIS))
        _expect(indexed, ["NO-ATTRIBUTES"])
    _expect(point(sessions).decide(p, ask(p, "CreateStreamProcessor")), ["NO-REALTIME"])
    live = replace(p, realtime=True)
    _expect(point(sessions).decide(live, ask(live, "StartStreamProcessor")), "allow")


def test_roles(sessions):
    reviewer = who("commercial", "photo_organization", roles=("reviewer",))
    _expect(point(sessions).decide(reviewer, ask(reviewer, "DetectFaces")), ["ROLES"])
    admin = who("commercial", "photo_organization", roles=("admin",))
    _expect(point(sessions).decide(admin, ask(admin, "CompareFaces")), "allow")
    _expect(point(sessions).decide(admin, ask(admin, "Administer")), ["OPERATOR-ONLY"])
    operator = replace(admin, operator=True)
    _expect(point(sessions).decide(operator, ask(operator, "Administer")), "allow")


def test_reviews_are_for_other_reviewers_of_the_same_organization(sessions):
    bob = who("government", "access_control", roles=("reviewer",))
    alice_holder = "member:1"
    own = Resource("Review", "r1", bob.organization_id, bob.organization, bob.holder)
    theirs = Resource("Review", "r2", bob.organization_id, bob.organization, alice_holder)
    foreign = Resource("Review", "r3", 99, "other", alice_holder)
    pdp = point(sessions)
    _expect(pdp.decide(bob, Question("DecideReview", theirs)), "allow")
    _expect(pdp.decide(bob, Question("GetReview", theirs)), "allow")
    _expect(pdp.decide(bob, Question("DecideReview", own)), ["HUMAN-REVIEW"])
    decision = pdp.decide(bob, Question("GetReview", foreign))
    _expect(decision, ["TENANT"])
    assert isinstance(decision.error, errors.ResourceNotFoundException)
    analyst = who("government", "access_control")
    _expect(pdp.decide(analyst, Question("DecideReview", theirs)), ["HUMAN-REVIEW"])
    _expect(pdp.decide(analyst, Question("GetReviewResult", theirs)), ["HUMAN-REVIEW"])
    mine = replace(analyst, holder=alice_holder)
    _expect(pdp.decide(mine, Question("GetReviewResult", theirs)), "allow")


def _use_case(sessions, **caps) -> int:
    from uuid import uuid4

    from facegate.auth.secrets import load_or_create_master_key  # noqa: F401

    name = f"caps-{uuid4().hex[:8]}"
    entry = Entry("Admin.CreateOrganization", "allow", member="test")
    created = Recorder(AuditLog(sessions), entry)
    Accounts(sessions, SecretBox(b"0" * 43 + b"=")).create_organization(
        name, sector="nonprofit", record=created
    )
    registry = Registry(sessions)

    def record(action: str) -> Recorder:
        return Recorder(AuditLog(sessions), Entry(f"Admin.{action}", "allow", member="test"))

    uc = registry.register_use_case(
        name,
        purpose="missing_persons",
        description="caps",
        legal_basis="test",
        operations=["identify"],
        expires=DURING + timedelta(days=30),
        registered_by="tests",
        record=record("RegisterUseCase"),
        **caps,
    )
    registry.decide_use_case(uc["id"], "approve", "tests", "ok", record=record("DecideUseCase"))
    return uc["id"]


def test_surveillance_caps_count_allowed_searches_in_sql(sessions):
    use_case = _use_case(sessions, searches_per_hour=3, searches_per_day=5, max_faces=10)
    p = who(
        "nonprofit",
        "missing_persons",
        caps={"searches_per_hour": 3, "searches_per_day": 5, "max_faces": 10},
    )
    p = replace(p, use_case_id=use_case)
    clock = {"now": DURING}
    # one decision point, as in a server process; each request's counts are written with its
    # record, in one transaction
    pdp = DecisionPoint(load_policy_set(None), Counters(sessions), clock=lambda: clock["now"])

    def search(**kw):
        decision = pdp.decide(p, ask(p, "SearchFacesByImage", **kw))
        with sessions.begin() as s:
            pdp.persist(s, decision)
        return decision

    for _ in range(3):
        assert search(max_results=10).allowed
    over = search()
    _expect(over, ["SURVEILLANCE-LIMITS"])
    assert isinstance(over.error, errors.ThrottlingException) and not over.counted
    assert "per hour" in over.error.message
    # a denied search is not counted; the next hour has room, until the day's cap
    clock["now"] = later = DURING + timedelta(hours=1)
    assert search().allowed and search().allowed
    day = search()
    _expect(day, ["SURVEILLANCE-LIMITS"])
    assert "per day" in day.error.message
    # a fresh point (a restarted server) reads the same numbers from SQL
    usage = Counters(sessions).usage(use_case, later)
    assert usage == {"searches_this_hour": 2, "searches_today": 5, "video_seconds_today": 0}
    restarted = DecisionPoint(load_policy_set(None), Counters(sessions), clock=lambda: later)
    _expect(restarted.decide(p, ask(p, "SearchFaces")), ["SURVEILLANCE-LIMITS"])
    assert point(sessions, later + timedelta(days=1)).decide(p, ask(p, "SearchFaces")).allowed
    # asking for more candidates than the cap is refused, whatever the counters say
    too_many = point(sessions, later + timedelta(days=2)).decide(
        p, ask(p, "SearchFacesByImage", max_results=11)
    )
    _expect(too_many, ["SURVEILLANCE-LIMITS"])
    assert isinstance(too_many.error, errors.LimitExceededException)
    # explain reads the counters but never counts
    before = Counters(sessions).usage(use_case, later)
    point(sessions, later).explain(p, ask(p, "SearchFaces"))
    assert Counters(sessions).usage(use_case, later) == before


def test_video_hours_cap(sessions):
    p = who("government", "missing_persons", caps={"video_seconds_per_day": 3600})
    pdp = point(sessions)
    fits = ask(p, "StartFaceSearch", inputs=CASE, video_seconds=3600)
    _expect(pdp.decide(p, fits, count=False), "allow")
    over = pdp.decide(p, ask(p, "StartFaceSearch", inputs=CASE, video_seconds=3601), count=False)
    _expect(over, ["SURVEILLANCE-LIMITS"])
    assert isinstance(over.error, errors.LimitExceededException)


WEEKEND = """
@id("NO-WEEKEND-IDENTIFICATION")
@advice("This operator allows no identification on Saturdays and Sundays (UTC).")
forbid (principal, action in Facegate::Action::"identify", resource)
when { context.weekday >= 6 };
"""


def test_an_operator_policy_takes_effect_without_code_changes(sessions, tmp_path):
    (tmp_path / "weekend.cedar").write_text(WEEKEND)
    policies = load_policy_set(tmp_path, "tests")
    assert policies.version != load_policy_set(None, "tests").version
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    p = who("commercial", "photo_organization")
    pdp = DecisionPoint(policies, Counters(sessions), clock=lambda: saturday)
    decision = pdp.decide(p, ask(p, "SearchFacesByImage"))
    _expect(decision, ["NO-WEEKEND-IDENTIFICATION"])
    assert "Saturdays and Sundays" in decision.error.message
    assert pdp.decide(p, ask(p, "CompareFaces")).allowed  # verification is not identification
    weekday = DecisionPoint(policies, Counters(sessions), clock=lambda: DURING)
    assert weekday.decide(p, ask(p, "SearchFacesByImage")).allowed


@pytest.mark.parametrize(
    "text, words",
    [
        ("forbid (principal, action, resource) when { context.nonsense };", "no @id"),
        ('@id("X") forbid (principal, action, resource) when { context.nonsense };', "nonsense"),
        ('@id("X") forbid (principal, action, resource) when { principal.sector == 3 };', "X"),
        ('@id("X") forbid (principal, action resource);', "does not parse"),
        ('@id("MORATORIUM") forbid (principal, action, resource);', "already used"),
    ],
)
def test_invalid_operator_policies_are_refused_with_the_reason(tmp_path, text, words):
    (tmp_path / "bad.cedar").write_text(text)
    with pytest.raises(PolicyError) as refused:
        load_policy_set(tmp_path)
    assert "bad.cedar" in str(refused.value)
    assert words in str(refused.value)


def test_an_operator_permit_cannot_lift_a_shipped_forbid(sessions, tmp_path):
    (tmp_path / "lift.cedar").write_text(
        '@id("LET-POLICE-IN") permit (principal, action, resource);'
    )
    pdp = DecisionPoint(load_policy_set(tmp_path), Counters(sessions), clock=lambda: DURING)
    p = who("law_enforcement", "criminal_investigation")
    _expect(pdp.decide(p, ask(p, "SearchFacesByImage", inputs=CASE)), ["MORATORIUM"])


def test_every_catalogue_rule_has_a_shipped_policy():
    policies = load_policy_set(None)
    rules = {p.rule for p in policies.policies}
    for rule in (
        "MORATORIUM",
        "LIMITED-ACCESS",
        "THRESHOLD-FLOOR",
        "CASE-REFERENCE",
        "HUMAN-REVIEW",
        "WARRANT",
        "NO-REALTIME",
        "SURVEILLANCE-LIMITS",
        "ENROLLMENT-BASIS",
        "NO-ATTRIBUTES",
        "TENANT",
        "FOOTAGE-CONSENT",
    ):
        assert rule in rules
    assert all(p.advice for p in policies.policies)
    assert isinstance(policies, PolicySet)


# --- FOOTAGE-CONSENT ----------------------------------------------------------------------------

COMMUNITY, AGENCY = ("community", "footage_sharing"), ("law_enforcement", "criminal_investigation")
FOOTAGE_ROLES = [
    # (sector and purpose, roles, operation, the deciding policies or "allow")
    (COMMUNITY, ("owner",), "RegisterCamera", "allow"),
    (COMMUNITY, ("admin",), "ListCameras", "allow"),
    (COMMUNITY, ("analyst",), "RegisterCamera", ["FOOTAGE-CONSENT.cameras"]),
    (AGENCY, ("analyst",), "ListCameras", ["FOOTAGE-CONSENT.cameras"]),
    # agencies request (the moratorium is about face recognition, not footage)
    (AGENCY, ("analyst",), "RequestFootage", "allow"),
    (("nonprofit", "missing_persons"), ("admin",), "CloseFootageRequest", "allow"),
    (AGENCY, ("reviewer",), "RequestFootage", ["FOOTAGE-CONSENT.agencies"]),
    (COMMUNITY, ("admin", "owner"), "RequestFootage", ["FOOTAGE-CONSENT.agencies"]),
    # only owners decide: not a community admin, not the agency
    (COMMUNITY, ("owner",), "DecideFootageRequest", "allow"),
    (COMMUNITY, ("admin",), "DecideFootageRequest", ["FOOTAGE-CONSENT.owners-decide"]),
    (AGENCY, ("analyst",), "DecideFootageRequest", ["FOOTAGE-CONSENT.owners-decide"]),
    # reading is open to both sides (what each sees is filtered by the footage store)
    (AGENCY, ("auditor",), "ListFootageRequests", "allow"),
    (COMMUNITY, ("owner",), "GetFootageRequest", "allow"),
]


def _expect_policies(decision, expected) -> None:
    if expected == "allow":
        assert decision.allowed, decision.error and decision.error.message
        return
    assert not decision.allowed and list(decision.policies) == expected
    assert decision.rules == ("FOOTAGE-CONSENT",)
    assert decision.error.message.startswith("Denied by FOOTAGE-CONSENT")


@pytest.mark.parametrize(
    "kind, roles, operation, expected",
    FOOTAGE_ROLES,
    ids=[f"{k[0]}-{'+'.join(r)}-{o}" for k, r, o, _ in FOOTAGE_ROLES],
)
def test_footage_roles(sessions, kind, roles, operation, expected):
    p = who(kind[0], kind[1], roles=roles)
    _expect_policies(point(sessions).decide(p, ask(p, operation)), expected)


def test_footage_needs_an_approved_use_case(sessions):
    for status in ("pending", "revoked", "expired"):
        p = who(*COMMUNITY, roles=("owner",), use_case_status=status)
        _expect_policies(
            point(sessions).decide(p, ask(p, "RegisterCamera")), ["FOOTAGE-CONSENT.use-case"]
        )


WINDOW = (DURING - timedelta(hours=3), DURING - timedelta(hours=2))
SECOND = timedelta(seconds=1)


def facts(consent="approved", *, owner=True, open_=True, start=WINDOW[0] + 60 * SECOND, seconds=10):
    return FootageFacts(owner, consent, open_, *WINDOW, start, start + seconds * SECOND)


SHARES = [
    ("approved, inside the window", facts(), "allow"),
    ("the whole window exactly", facts(start=WINDOW[0], seconds=3600), "allow"),
    ("not answered yet", facts("pending"), ["FOOTAGE-CONSENT"]),
    ("declined", facts("declined"), ["FOOTAGE-CONSENT"]),
    ("revoked", facts("revoked"), ["FOOTAGE-CONSENT"]),
    ("a camera not in the request", facts("none"), ["FOOTAGE-CONSENT"]),
    ("the agency closed the request", facts(open_=False), ["FOOTAGE-CONSENT"]),
    ("starts before the window", facts(start=WINDOW[0] - SECOND), ["FOOTAGE-CONSENT.window"]),
    ("ends after the window", facts(start=WINDOW[1] - 5 * SECOND), ["FOOTAGE-CONSENT.window"]),
    (
        "someone else's camera",
        facts("none", owner=False),
        ["FOOTAGE-CONSENT", "FOOTAGE-CONSENT.owners-share"],
    ),
    (
        "no facts at all",
        None,
        ["FOOTAGE-CONSENT", "FOOTAGE-CONSENT.owners-share", "FOOTAGE-CONSENT.window"],
    ),
]


@pytest.mark.parametrize("case, shared, expected", SHARES, ids=[c for c, _, _ in SHARES])
def test_only_approved_footage_of_the_window_is_shared(sessions, case, shared, expected):
    owner = who(*COMMUNITY, roles=("owner",))
    _expect_policies(
        point(sessions).decide(owner, ask(owner, "ShareFootage", footage=shared)), expected
    )


def test_only_owners_share_even_with_an_approval(sessions):
    for kind, roles in ((COMMUNITY, ("admin",)), (AGENCY, ("analyst",))):
        p = who(*kind, roles=roles)
        decision = point(sessions).decide(p, ask(p, "ShareFootage", footage=facts()))
        _expect_policies(decision, ["FOOTAGE-CONSENT.owners-share"])


def _report(fmr_geo: float | None, garbe: float) -> dict:
    return {
        "format": "facegate-fairness-report/1",
        "model_version": "dlib-resnet-v1",
        "dataset": "tests",
        "summary": {
            "fmr_max_geomean": {"value": fmr_geo, "reason": None if fmr_geo else "zero rate"},
            "garbe": {"value": garbe},
        },
        "groups": {"a": {"fmr": 1e-4}, "b": {"fmr": 2e-4}},
    }


def test_the_fairness_gate_allows_identification_only_with_an_audit_within_limits(sessions):
    from facegate.fairness.gate import FairnessGate

    gate = FairnessGate(
        sessions, "dlib-resnet-v1", enabled=True, limits={"fmr_max_geomean": 3.0, "garbe": 0.25}
    )
    pdp = DecisionPoint(
        load_policy_set(None), Counters(sessions), clock=lambda: DURING, gate=gate.status
    )
    p = who("commercial", "photo_organization")

    def record(_session, _answer) -> None:  # the CLI's Recorder commits here, with the audit
        recorded.append(_answer["audit_id"])

    recorded: list[int] = []
    closed = pdp.decide(p, ask(p, "SearchFacesByImage"))
    _expect(closed, ["FAIRNESS-GATE"])
    assert "no demographic audit" in closed.error.message
    assert pdp.decide(p, ask(p, "CompareFaces")).allowed  # verification is not gated
    failing = gate.record(_report(4.2, 0.1), b"r1", "tests", record)
    assert failing["within_limits"] is False
    denied = pdp.decide(p, ask(p, "SearchFacesByImage"))
    _expect(denied, ["FAIRNESS-GATE"])
    assert f"audit {failing['audit_id']}" in denied.error.message
    assert "fmr_max_geomean 4.2 > 3" in denied.error.message
    undefined = gate.record(_report(None, 0.1), b"r2", "tests", record)
    assert "undefined" in pdp.decide(p, ask(p, "SearchFaces")).error.message
    assert undefined["within_limits"] is False
    passing = gate.record(_report(2.5, 0.2), b"r3", "tests", record)
    assert passing["within_limits"] is True
    assert pdp.decide(p, ask(p, "SearchFacesByImage")).allowed
    assert recorded == [failing["audit_id"], undefined["audit_id"], passing["audit_id"]]
    other_model = FairnessGate(sessions, "another-model", enabled=True)
    assert other_model.status().closed  # an audit of one model says nothing of another
    off = FairnessGate(sessions, "another-model", enabled=False)
    assert not off.status().closed

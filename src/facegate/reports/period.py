"""Reading a period from the database: everything the transparency report counts.

:func:`read_period` groups the audit records of [start, end) by sector, purpose, operation
and decision, counts denials by rule, deletions (receipts and faces), footage decisions,
the policy set versions in force and the chain's state, and the human reviews opened in the
period by their status now.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from facegate.audit import chain
from facegate.audit.tables import AuditCheckpoint, AuditRecord
from facegate.db import aware
from facegate.policy.engine import action_parents
from facegate.policy.point import RULE_ORDER
from facegate.policy.tables import Review
from facegate.reports.sources import Sources

NO_PURPOSE = "(no use case)"
NO_SECTOR = "(not authenticated)"
NO_RULE = "(no policy named)"
UNRECOGNIZED = "(unrecognized operation)"
UNRECOGNIZED_CLASS = "(unrecognized)"
# Administrative and system work: names the code gives. Any other operation name that is not
# an API operation (a refused request may carry a URL path or whatever a client sent) is
# never published: it is counted as an unrecognized operation.
ACTION_NAME = re.compile(r"(?:Admin|System)\.[A-Za-z]{1,60}|Erase")
DELETION_KINDS = ("retention", "erasure")  # the kinds of deletion receipt
# FOOTAGE-CONSENT: an owner's decision counts the cameras it was taken for.
FOOTAGE_DECISIONS = (("approve", "approved"), ("decline", "declined"), ("revoke", "revoked"))
# Shaping questions: a rule whose policies only shape (never deny) is not listed among denials.
SHAPING_ACTIONS = frozenset({"UseThreshold", "ReleaseCandidates"})


def operation_classes(services: Sources) -> dict[str, str]:
    """Operation -> its class (detect, verify, identify, ...), from the policy set's schema."""
    parents = action_parents(services.point.policies.schema_text)
    return {name: groups[0] for name, groups in parents.items() if groups}


def rule_of(services: Sources, policy_id: str) -> str:
    """The catalogue rule a deciding policy implements (its id's prefix when it is unknown)."""
    try:
        return services.point.policies.policy(policy_id).rule
    except KeyError:
        return policy_id.split(".", 1)[0]


def denying_rules(services: Sources) -> list[str]:
    """The rules of the policy set in force that can deny a request, in evaluation order."""
    rules = {
        p.rule
        for p in services.point.policies.policies
        if p.effect == "forbid" and (p.actions is None or not p.actions <= SHAPING_ACTIONS)
    }
    ordered = [r for r in RULE_ORDER if r in rules]
    return ordered + sorted(rules - set(ordered))


def _tally() -> defaultdict[str, Counter[str]]:
    return defaultdict(Counter)


@dataclass
class Period:
    """Everything the transparency report counts, read from the database."""

    start: datetime
    end: datetime
    by_sector: defaultdict[str, Counter[str]] = field(default_factory=_tally)
    by_purpose: defaultdict[str, Counter[str]] = field(default_factory=_tally)
    by_class: defaultdict[str, Counter[str]] = field(default_factory=_tally)
    by_operation: defaultdict[str, Counter[str]] = field(default_factory=_tally)
    operation_class: dict[str, str] = field(default_factory=dict)
    actions: defaultdict[str, Counter[str]] = field(default_factory=_tally)
    denials: Counter[str] = field(default_factory=Counter)
    faces_enrolled: int = 0
    delete_requests: int = 0
    faces_deleted_on_request: int = 0
    delete_requests_uncounted: int = 0
    deletions: dict[str, Counter[str]] = field(default_factory=dict)  # kind -> receipts, faces
    # kind -> the operations whose records carry the receipts, and how many
    deletion_operations: dict[str, Counter[str]] = field(
        default_factory=lambda: {kind: Counter() for kind in DELETION_KINDS}
    )
    review_status: Counter[str] = field(default_factory=Counter)
    # camera decisions by kind (approve, decline, revoke) and cameras asked by requests
    footage: Counter[str] = field(default_factory=Counter)
    review_seconds: list[float] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    checkpoints_in_period: int = 0
    head_seq: int | None = None
    head_hash: str = ""
    checkpoint: dict[str, Any] | None = None


def read_period(services: Sources, start: datetime, end: datetime) -> Period:
    period = Period(start, end)
    classes = operation_classes(services)
    sessions = services.audit.sessions
    in_period = (AuditRecord.at >= start, AuditRecord.at < end)
    with sessions() as s:
        grouped = s.execute(
            select(
                AuditRecord.sector,
                AuditRecord.purpose,
                AuditRecord.operation,
                AuditRecord.decision,
                AuditRecord.policy_version == "",
                func.count(),
                func.count(AuditRecord.result_count),
                func.sum(AuditRecord.result_count),
            )
            .where(*in_period)
            .group_by(
                AuditRecord.sector,
                AuditRecord.purpose,
                AuditRecord.operation,
                AuditRecord.decision,
                AuditRecord.policy_version == "",
            )
        ).all()
        for sector, purpose, operation, decision, unversioned, n, counted, results in grouped:
            decision = decision if decision in ("allow", "deny") else "error"
            if decision == "deny" and unversioned:
                decision = "refused"
            kind = classes.get(operation)
            if kind is None and ACTION_NAME.fullmatch(operation or ""):
                period.actions[operation][decision] += n  # not a request
                continue
            if kind is None:
                kind, operation = UNRECOGNIZED_CLASS, UNRECOGNIZED
            period.operation_class[operation] = kind
            period.by_sector[sector or NO_SECTOR][decision] += n
            period.by_purpose[purpose or NO_PURPOSE][decision] += n
            period.by_class[kind][decision] += n
            period.by_operation[operation][decision] += n
            if decision == "allow" and operation == "IndexFaces":
                period.faces_enrolled += int(results or 0)
            if decision == "allow" and operation == "DeleteFaces":
                period.delete_requests += n
                period.faces_deleted_on_request += int(results or 0)
                period.delete_requests_uncounted += n - counted
        for policies, n in s.execute(
            select(AuditRecord.policies, func.count())
            .where(*in_period, AuditRecord.decision == "deny", AuditRecord.policy_version != "")
            .group_by(AuditRecord.policies)
        ):
            named = json.loads(policies or "[]")
            rules = dict.fromkeys(rule_of(services, p) for p in named) or {NO_RULE: None}
            for rule in rules:
                period.denials[rule] += n
        period.deletions = {kind: Counter() for kind in DELETION_KINDS}
        for operation, count, detail in s.execute(
            select(AuditRecord.operation, AuditRecord.result_count, AuditRecord.detail).where(
                *in_period,
                AuditRecord.decision == "allow",
                AuditRecord.detail.like('%"receipt_id"%'),
            )
        ):
            kind = json.loads(detail or "{}").get("kind")
            if kind not in DELETION_KINDS:
                kind = "retention" if operation == "System.RetentionPurge" else "erasure"
            period.deletions[kind]["n"] += 1
            period.deletions[kind]["faces"] += int(count or 0)
            period.deletion_operations[kind][operation] += 1
        for operation, count, detail in s.execute(
            select(AuditRecord.operation, AuditRecord.result_count, AuditRecord.detail).where(
                *in_period,
                AuditRecord.decision == "allow",
                AuditRecord.operation.in_(("RequestFootage", "DecideFootageRequest")),
            )
        ):
            if operation == "RequestFootage":  # counts the cameras it asked
                period.footage["asked"] += int(count or 0)
                continue
            kind = json.loads(detail or "{}").get("decision")
            if kind in dict(FOOTAGE_DECISIONS):  # counts the cameras decided for
                period.footage[kind] += int(count or 0)
        for version, first, last in s.execute(
            select(AuditRecord.policy_version, func.min(AuditRecord.at), func.max(AuditRecord.at))
            .where(*in_period, AuditRecord.policy_version != "")
            .group_by(AuditRecord.policy_version)
        ):
            period.versions.append(
                {
                    "version": version,
                    "first_seen": aware(first).date().isoformat(),
                    "last_seen": aware(last).date().isoformat(),
                    "_order": aware(first),
                }
            )
        period.versions.sort(key=lambda v: v.pop("_order"))
        records, first_seq, last_seq = s.execute(
            select(func.count(), func.min(AuditRecord.seq), func.max(AuditRecord.seq)).where(
                *in_period
            )
        ).one()
        period.records = int(records)
        period.first_seq, period.last_seq = first_seq, last_seq
        if first_seq is not None:
            period.checkpoints_in_period = int(
                s.scalar(
                    select(func.count()).where(
                        AuditCheckpoint.seq >= first_seq, AuditCheckpoint.seq <= last_seq
                    )
                )
                or 0
            )
        try:
            period.head_seq, period.head_hash = chain.head(s)
        except chain.ChainConflict:
            period.head_seq, period.head_hash = None, ""
        latest = s.scalars(
            select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)
        ).first()
        if latest is not None:
            period.checkpoint = {
                "seq": latest.seq,
                "at": chain.timestamp(latest.at),
                "hash": latest.hash,
                "key_id": latest.key_id,
            }
        now = services.point.clock()
        for status, created, closed, expires in s.execute(
            select(Review.status, Review.created_at, Review.closed_at, Review.expires_at).where(
                Review.created_at >= start, Review.created_at < end
            )
        ):
            if status == "open" and aware(expires) <= now:
                status = "expired"  # past its deadline, awaiting the expiry sweep
            period.review_status[status] += 1
            if status in ("confirmed", "rejected") and closed is not None:
                period.review_seconds.append((aware(closed) - aware(created)).total_seconds())
    return period

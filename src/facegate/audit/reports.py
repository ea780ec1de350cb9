"""Transparency and accountability reports, written from the audit log and the registry.

:func:`transparency` aggregates what happened in a period for the public: requests by sector,
purpose and operation, denials by rule, reviews and their time to decision, enrollments and
deletions, the policy set versions in force and the audit chain's state with the public key
that verifies exported logs. It writes ``transparency.html`` (charts embedded as PNG),
``transparency.json`` (every number) and one CSV file per table. Aggregates only: no
organization, member, key, face, case, review or request identifier ever reaches a file.

Small counts are suppressed (:func:`suppress`): a count from 1 to 4 is shown as ``<5``; when a
total would let a suppressed count be recomputed by subtraction, another count of the same
sum is withheld too (shown as ``x``). docs/reports.md states the rules.

:func:`accountability` writes the report Washington's SB 6280 asks of an agency for one use
case (``accountability.html`` and ``accountability.json``): vendor, product and model,
capabilities and limitations (from the calibration artifact), data inputs and processing, the
use case, human review, data management and retention, testing, and how the public gives
feedback (a placeholder the operator fills in: facegate has no setting for it yet).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from facegate import __version__
from facegate.audit import chain
from facegate.audit.tables import AuditCheckpoint, AuditRecord
from facegate.errors import InvalidParameterException
from facegate.policy.tables import REVIEW_STATUSES

SMALL = 5  # counts from 1 to SMALL - 1 are suppressed
SMALL_MARK = "<5"
WITHHELD_MARK = "x"
UNKNOWN_MARK = "not recorded"
# How a request ended. A record says allow, deny or error; a denial without a policy set
# version was refused before the policy decision (authentication, unknown operation, invalid
# parameters), which is not a rule's denial, so it has a column of its own.
DECISIONS = (
    ("allow", "allowed"),
    ("deny", "denied"),
    ("refused", "refused"),
    ("error", "error"),
)
COLUMNS = (*(column for _, column in DECISIONS), "total")
NO_PURPOSE = "(no use case)"
NO_SECTOR = "(not authenticated)"
NO_RULE = "(no policy named)"
UNRECOGNIZED = "(unrecognized operation)"
UNRECOGNIZED_CLASS = "(unrecognized)"
# Administrative and system work: names the code gives. Any other operation name that is not
# an API operation (a refused request may carry a URL path or whatever a client sent) is
# never published: it is counted as an unrecognized operation.
ACTION_NAME = re.compile(r"(?:Admin|System)\.[A-Za-z]{1,60}|Erase")
ALL = "(all)"
DELETION_KINDS = ("retention", "erasure")  # the kinds of deletion receipt
# FOOTAGE-CONSENT: an owner's decision counts the cameras it was taken for.
FOOTAGE_DECISIONS = (("approve", "approved"), ("decline", "declined"), ("revoke", "revoked"))
# Shaping questions: a rule whose policies only shape (never deny) is not listed among denials.
SHAPING_ACTIONS = frozenset({"UseThreshold", "ReleaseCandidates"})
TEMPLATES = "templates"
UPDATE_EVERY_YEARS = 2
FEEDBACK_PLACEHOLDER = (
    "TO BE COMPLETED BY THE OPERATOR BEFORE PUBLICATION: how members of the public can comment "
    "on this use case (postal address, e-mail address or web form, and any public meeting where "
    "it is discussed)."
)


# --- small-count suppression -----------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """A count as published: its value, or why it is withheld."""

    value: int
    withheld: str | None = None  # None, "small" (1-4), "complementary" or "unknown"

    @property
    def shown(self) -> str:
        if self.withheld == "small":
            return SMALL_MARK
        if self.withheld == "unknown":
            return UNKNOWN_MARK
        if self.withheld:
            return WITHHELD_MARK
        return str(self.value)

    def to_json(self) -> dict[str, Any]:
        if self.withheld == "unknown":
            return {"value": None, "unknown": True, "shown": self.shown}
        if self.withheld:
            return {"value": None, "suppressed": True, "shown": self.shown}
        return {"value": self.value}


def suppress(
    values: dict[Any, int],
    relations: Iterable[tuple[Any, Sequence[Any]]] = (),
    fixed: Iterable[Any] = (),
) -> dict[Any, Cell]:
    """Publishable cells for ``values`` whose additive ``relations`` are (total, members).

    Primary: every count from 1 to 4 is withheld ("small"). Complementary: while some relation
    would let a withheld count be pinned to one value (from its total, the shown members and
    the bounds readers know: a "<5" count is 1-4, an "x" count is at least 5), the smallest
    non-zero shown member of that relation is withheld too, or its total when no member is
    left. A withheld total whose members are all shown is withheld through a member the same
    way. ``fixed`` cells (audit chain counts a verifier needs) are never withheld. Zero is never
    withheld: it singles nobody out.
    """
    fixed = set(fixed)
    state: dict[Any, str | None] = {
        key: ("small" if 0 < value < SMALL and key not in fixed else None)
        for key, value in values.items()
    }
    relations = [(total, list(members)) for total, members in relations]
    changed = True
    while changed:
        changed = False
        for total, members in relations:
            victim = _exposed(values, state, fixed, total, members)
            if victim is not None:
                state[victim] = "complementary"
                changed = True
    return {key: Cell(values[key], state[key]) for key in values}


def _bounds(kind: str | None) -> tuple[float, float]:
    return (1, SMALL - 1) if kind == "small" else (SMALL, math.inf)


def _exposed(
    values: dict[Any, int],
    state: dict[Any, str | None],
    fixed: set[Any],
    total: Any,
    members: list[Any],
) -> Any:
    """The cell to withhold so that relation (total, members) pins no withheld count; or None."""
    hidden = [m for m in members if state[m]]
    if state[total]:
        if hidden:  # an unknown total and unknown members: no equation to solve
            return None
    else:
        if not hidden:
            return None
        rest = values[total] - sum(values[m] for m in members if not state[m])
        pinned = False
        for i, member in enumerate(hidden):
            lo, hi = _bounds(state[member])
            others = [_bounds(state[o]) for j, o in enumerate(hidden) if j != i]
            lo = max(lo, rest - sum(b[1] for b in others))
            hi = min(hi, rest - sum(b[0] for b in others))
            pinned = pinned or lo >= hi
        if not pinned:
            return None
    shown = [m for m in members if not state[m] and values[m] > 0 and m not in fixed]
    if shown:
        return min(shown, key=lambda m: values[m])  # the first of equals: deterministic
    if not state[total] and total not in fixed:
        return total
    return None  # nothing left to withhold (only fixed cells): cannot be protected further


# --- tables ----------------------------------------------------------------------------------


@dataclass
class Table:
    """A published table: rows of cells (keys into the report's suppressed cells)."""

    name: str  # the CSV file's stem
    title: str
    row_label: str
    columns: tuple[str, ...]
    rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    extra: dict[str, dict[str, str]] = field(default_factory=dict)  # text columns per row
    extra_columns: tuple[str, ...] = ()
    note: str = ""

    def rendered(self, cells: dict[Any, Cell]) -> dict[str, Any]:
        """What the HTML template needs: header and the shown text of every cell."""
        header = [self.row_label, *self.extra_columns, *self.columns]
        body = []
        for label, keys in self.rows:
            texts = [self.extra.get(label, {}).get(c, "") for c in self.extra_columns]
            body.append(
                {
                    "cells": [label, *texts, *(cells[keys[c]].shown for c in self.columns)],
                    "total": label == ALL,
                }
            )
        return {
            "name": self.name,
            "title": self.title,
            "header": header,
            "rows": body,
            "csv": f"{self.name}.csv",
            "note": self.note,
        }

    def to_json(self, cells: dict[Any, Cell]) -> dict[str, Any]:
        rows = []
        for label, keys in self.rows:
            row: dict[str, Any] = {self.row_label: label}
            row.update(self.extra.get(label, {}))
            row.update({c: cells[keys[c]].to_json() for c in self.columns})
            rows.append(row)
        out: dict[str, Any] = {
            "title": self.title,
            "csv": f"{self.name}.csv",
            "columns": [self.row_label, *self.extra_columns, *self.columns],
            "rows": rows,
        }
        if self.note:
            out["note"] = self.note
        return out

    def write_csv(self, directory: Path, cells: dict[Any, Cell]) -> Path:
        path = directory / f"{self.name}.csv"
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow([self.row_label, *self.extra_columns, *self.columns])
            for label, keys in self.rows:
                extra = [self.extra.get(label, {}).get(c, "") for c in self.extra_columns]
                writer.writerow([label, *extra, *(cells[keys[c]].shown for c in self.columns)])
        return path


class Ledger:
    """The report's counts and the sums that tie them together, suppressed all at once."""

    def __init__(self) -> None:
        self.values: dict[Any, int] = {}
        self.relations: list[tuple[Any, list[Any]]] = []
        self.fixed: set[Any] = set()

    def put(self, key: Any, value: int, *, fixed: bool = False) -> Any:
        self.values[key] = int(value)
        if fixed:
            self.fixed.add(key)
        return key

    def relate(self, total: Any, members: Iterable[Any]) -> None:
        members = list(members)
        if members:
            self.relations.append((total, members))

    def put_once(self, key: Any, value: int) -> Any:
        """Put a count that several tables share; they must agree on it."""
        if key in self.values and self.values[key] != value:
            raise AssertionError(f"{key} is counted as {self.values[key]} and as {value}")
        return self.put(key, value)

    def decisions_table(
        self,
        name: str,
        title: str,
        row_label: str,
        counts: dict[str, Counter],
        labels: Iterable[str],
        totals: str = "all",
    ) -> Table:
        """Rows × (allowed, denied, error, total) and a totals row (keys ``(totals, column)``).

        Tables that break down the same records share their totals row (``"all"``).
        """
        table = Table(name, title, row_label, COLUMNS)
        order = list(dict.fromkeys([*labels, *sorted(counts)]))
        for label in order:
            seen = counts.get(label, Counter())
            keys = {}
            for decision, column in DECISIONS:
                keys[column] = self.put((row_label, label, column), seen[decision])
            keys["total"] = self.put(
                (row_label, label, "total"), sum(seen[d] for d, _ in DECISIONS)
            )
            self.relate(keys["total"], [keys[c] for _, c in DECISIONS])
            table.rows.append((label, keys))
        for column in COLUMNS:
            self.put_once(
                (totals, column), sum(self.values[(row_label, label, column)] for label in order)
            )
            self.relate((totals, column), [(row_label, label, column) for label in order])
        self.relate((totals, "total"), [(totals, c) for _, c in DECISIONS])
        table.rows.append((ALL, {c: (totals, c) for c in COLUMNS}))
        return table


# --- reading the period ----------------------------------------------------------------------


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes: they were stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _utc(moment: datetime) -> datetime:
    return aware(moment).astimezone(UTC)


def operation_classes(services: Any) -> dict[str, str]:
    """Operation -> its class (detect, verify, identify, ...), from the policy set's schema."""
    from facegate.policy.engine import action_parents

    parents = action_parents(services.point.policies.schema_text)
    return {name: groups[0] for name, groups in parents.items() if groups}


def rule_of(services: Any, policy_id: str) -> str:
    """The catalogue rule a deciding policy implements (its id's prefix when it is unknown)."""
    try:
        return services.point.policies.policy(policy_id).rule
    except KeyError:
        return policy_id.split(".", 1)[0]


def denying_rules(services: Any) -> list[str]:
    """The rules of the policy set in force that can deny a request, in evaluation order."""
    from facegate.policy.point import RULE_ORDER

    rules = {
        p.rule
        for p in services.point.policies.policies
        if p.effect == "forbid" and (p.actions is None or not p.actions <= SHAPING_ACTIONS)
    }
    ordered = [r for r in RULE_ORDER if r in rules]
    return ordered + sorted(rules - set(ordered))


def _tally() -> dict[str, Counter]:
    return defaultdict(Counter)


@dataclass
class Period:
    """Everything the transparency report counts, read from the database."""

    start: datetime
    end: datetime
    by_sector: dict[str, Counter] = field(default_factory=_tally)
    by_purpose: dict[str, Counter] = field(default_factory=_tally)
    by_class: dict[str, Counter] = field(default_factory=_tally)
    by_operation: dict[str, Counter] = field(default_factory=_tally)
    operation_class: dict[str, str] = field(default_factory=dict)
    actions: dict[str, Counter] = field(default_factory=_tally)
    denials: Counter = field(default_factory=Counter)
    faces_enrolled: int = 0
    delete_requests: int = 0
    faces_deleted_on_request: int = 0
    delete_requests_uncounted: int = 0
    deletions: dict[str, Counter] = field(default_factory=dict)  # kind -> receipts, faces
    # kind -> the operations whose records carry the receipts, and how many
    deletion_operations: dict[str, Counter] = field(
        default_factory=lambda: {kind: Counter() for kind in DELETION_KINDS}
    )
    review_status: Counter = field(default_factory=Counter)
    # camera decisions by kind (approve, decline, revoke) and cameras asked by requests
    footage: Counter = field(default_factory=Counter)
    review_seconds: list[float] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    checkpoints_in_period: int = 0
    head_seq: int | None = None
    head_hash: str = ""
    checkpoint: dict[str, Any] | None = None


def read_period(services: Any, start: datetime, end: datetime) -> Period:
    from facegate.policy.tables import Review

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
                    "first_seen": _utc(first).date().isoformat(),
                    "last_seen": _utc(last).date().isoformat(),
                    "_order": _utc(first),
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


# --- statistics ------------------------------------------------------------------------------


def nearest_rank(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with at least ``fraction`` at or below."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


# --- charts ----------------------------------------------------------------------------------


def bar_chart(title: str, labels: Sequence[str], cells: Sequence[Cell]) -> dict[str, str]:
    """A horizontal bar chart (PNG, base64) of published cells; withheld bars are not drawn.

    Withheld counts are drawn as no bar with their mark ("<5" or "x") as the label, so the
    picture says no more than the table. The alt text lists every value as published.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    height = 1.2 + 0.35 * max(1, len(labels))
    figure = Figure(figsize=(7.5, height), dpi=96)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    positions = list(range(len(labels)))[::-1]
    values = [0 if c.withheld else c.value for c in cells]
    axes.barh(positions, values, color="#33658a")
    top = max([*values, 1])
    for y, cell in zip(positions, cells, strict=True):
        axes.text(
            (0 if cell.withheld else cell.value) + top * 0.01,
            y,
            cell.shown,
            va="center",
            fontsize=9,
            color="#7a1f1f" if cell.withheld else "#222222",
        )
    axes.set_yticks(positions, labels=list(labels), fontsize=9)
    axes.set_xlim(0, top * 1.15)
    axes.set_title(title, fontsize=11)
    axes.spines[["top", "right"]].set_visible(False)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    listed = "; ".join(f"{label}: {cell.shown}" for label, cell in zip(labels, cells, strict=True))
    return {
        "png": base64.b64encode(buffer.getvalue()).decode(),
        "alt": f"Bar chart, {title}. {listed}.",
        "title": title,
    }


# --- rendering -------------------------------------------------------------------------------


def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=PackageLoader("facegate.audit", TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False, default=str) + "\n")


# --- the demographic audit -------------------------------------------------------------------


def demographic_audit(services: Any) -> dict[str, Any]:
    """The latest recorded demographic audit (FAIRNESS-GATE), summarized; or none on record.

    Published: the model version, day recorded, data set, target FMR, the report's SHA-256,
    the summary measures, per-group rates and whether the operator's limits are met. Not
    published: who recorded it.
    """
    governance = services.settings.governance
    gate = {
        "enabled": bool(getattr(governance, "fairness_gate", False)),
        "limits": dict(getattr(governance, "fairness_limits", None) or {}),
    }
    fairness = getattr(services, "fairness", None)
    latest = None
    if fairness is not None and hasattr(fairness, "latest"):
        try:
            latest = fairness.latest()
        except SQLAlchemyError:  # a database from before the fairness tables
            latest = None
    if latest is None:
        return {
            "status": "none on record",
            "summary": None,
            "groups": [],
            "gate": gate,
            "note": "No demographic bias audit (false match and false non-match rates per "
            "demographic group at one global threshold, following NIST's method) of the face "
            "model is on record.",
        }

    def measure(item: Any) -> dict[str, Any]:
        if isinstance(item, dict):
            return {"value": item.get("value"), "reason": item.get("reason")}
        return {"value": item, "reason": None}

    groups = []
    for name, group in sorted((latest.get("groups") or {}).items()):
        group = group if isinstance(group, dict) else {}
        groups.append(
            {
                "group": name,
                "subjects": group.get("subjects"),
                "fmr": measure(group.get("fmr"))["value"],
                "fnmr": measure(group.get("fnmr"))["value"],
            }
        )
    recorded = latest.get("recorded_at")
    return {
        "status": "on record",
        "audit_id": latest.get("audit_id"),
        "model_version": latest.get("model_version"),
        "recorded": str(recorded)[:10] if recorded else None,
        "dataset": latest.get("dataset"),
        "target_fmr": latest.get("target_fmr"),
        "report_sha256": latest.get("report_sha256"),
        "within_limits": latest.get("within_limits"),
        "summary": {k: measure(v) for k, v in sorted((latest.get("summary") or {}).items())},
        "groups": groups,
        "gate": gate,
        "note": "The latest demographic bias audit on record: false match and false non-match "
        "rates per demographic group at one global threshold (NIST's method) and the summary "
        "measures. The full report is the file whose SHA-256 is given.",
    }


# --- the transparency report -----------------------------------------------------------------


def transparency(services: Any, start: datetime, end: datetime, out_dir: Path) -> dict[str, Any]:
    """Write the transparency report for [start, end) into ``out_dir``; what was written."""
    from facegate.gallery.tables import SECTORS

    start, end = _utc(start), _utc(end)
    if end <= start:
        raise InvalidParameterException("The report's --to must be later than its --from.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    generated = datetime.now(UTC)
    period = read_period(services, start, end)
    ledger = Ledger()

    # Requests: four breakdowns of the same records, sharing the "all requests" totals.
    class_order = list(dict.fromkeys(operation_classes(services).values()))
    if UNRECOGNIZED_CLASS in period.by_class:
        class_order.append(UNRECOGNIZED_CLASS)
    operations = sorted(
        period.by_operation, key=lambda o: (class_order.index(period.operation_class[o]), o)
    )
    tables = [
        ledger.decisions_table(
            "requests_by_sector",
            "Requests by sector of the requesting organization",
            "sector",
            period.by_sector,
            SECTORS,
        ),
        ledger.decisions_table(
            "requests_by_purpose",
            "Requests by purpose of the use case the key was issued for",
            "purpose",
            period.by_purpose,
            [*services.registry.purposes, NO_PURPOSE],
        ),
        ledger.decisions_table(
            "requests_by_operation_class",
            "Requests by operation class",
            "class",
            period.by_class,
            class_order,
        ),
        ledger.decisions_table(
            "requests_by_operation", "Requests by operation", "operation", period.by_operation, []
        ),
    ]
    by_operation = tables[-1]
    by_operation.rows = [
        *sorted(by_operation.rows[:-1], key=lambda row: operations.index(row[0])),
        by_operation.rows[-1],
    ]
    by_operation.extra_columns = ("class",)
    by_operation.extra = {o: {"class": k} for o, k in period.operation_class.items()}
    for kind in class_order:  # a class's counts are the sums of its operations'
        members = [o for o in operations if period.operation_class[o] == kind]
        for column in COLUMNS:
            ledger.relate(("class", kind, column), [("operation", o, column) for o in members])

    # Denials by rule: a denial names every rule that denied it, so the rows overlap.
    denials = Table(
        "denials_by_rule",
        "Denied requests by the rule that denied them",
        "rule",
        ("denials",),
        note="A request denied by several rules is counted under each of them, so the rows do "
        "not add up to the number of denied requests.",
    )
    for rule in dict.fromkeys([*denying_rules(services), *sorted(period.denials)]):
        denials.rows.append((rule, {"denials": ledger.put(("rule", rule), period.denials[rule])}))

    # Reviews opened in the period, by their status now.
    reviews = Table(
        "reviews_by_status",
        "Human reviews of candidate lists opened in the period, by status now",
        "status",
        ("reviews",),
    )
    for status in REVIEW_STATUSES:
        key = ledger.put(("review", status), period.review_status[status])
        reviews.rows.append((status, {"reviews": key}))
    ledger.put(("review", ALL), sum(period.review_status[s] for s in REVIEW_STATUSES))
    ledger.relate(("review", ALL), [("review", s) for s in REVIEW_STATUSES])
    reviews.rows.append((ALL, {"reviews": ("review", ALL)}))

    # The gallery: enrollments and deletions. Counts of requests and actions that appear in
    # other tables too are tied to them (a one-member sum is an equality), so that a count
    # withheld in one table is not shown in another.
    gallery = Table("gallery_changes", "Faces enrolled and deleted", "measure", ("count",))
    for name, label, value in (
        ("faces_enrolled", "faces enrolled (IndexFaces)", period.faces_enrolled),
        ("delete_requests", "DeleteFaces requests", period.delete_requests),
        (
            "faces_deleted_on_request",
            "faces deleted on request (DeleteFaces)",
            period.faces_deleted_on_request,
        ),
        ("retention_purges", "retention purges (receipts)", period.deletions["retention"]["n"]),
        (
            "faces_purged",
            "faces purged at their retention deadline",
            period.deletions["retention"]["faces"],
        ),
        ("erasures", "erasures (receipts)", period.deletions["erasure"]["n"]),
        ("faces_erased", "faces erased", period.deletions["erasure"]["faces"]),
    ):
        gallery.rows.append((label, {"count": ledger.put(("gallery", name), value)}))

    # Administrative and system actions: everything in the log that is not a request.
    actions = ledger.decisions_table(
        "actions",
        "Administrative and system actions",
        "action",
        period.actions,
        [],
        totals="actions",
    )
    if period.delete_requests:
        ledger.relate(("gallery", "delete_requests"), [("operation", "DeleteFaces", "allowed")])
    for kind, name in (("retention", "retention_purges"), ("erasure", "erasures")):
        ledger.relate(
            ("gallery", name),
            [
                ("action", op, "allowed")
                if ("action", op, "allowed") in ledger.values
                else ("operation", op if op in period.by_operation else UNRECOGNIZED, "allowed")
                for op in period.deletion_operations[kind]
            ],
        )
    unknown_deleted = period.delete_requests_uncounted > 0
    if unknown_deleted:
        gallery.note = (
            "Some DeleteFaces records of the period do not say how many faces they deleted, so "
            "the number of faces deleted on request is not known and is not given."
        )

    # Footage sharing (FOOTAGE-CONSENT): requests, the owners' decisions per camera, videos
    # shared and refused. Counts that are cells of the operations table are tied to them.
    footage = Table(
        "footage_sharing",
        "Private cameras' footage requested by agencies and shared by their owners",
        "measure",
        ("count",),
        note="Owners' decisions are counted per camera; a decision may cover several of an "
        "owner's cameras, and an approval can later be revoked (until footage is shared).",
    )
    asks = period.by_operation.get("RequestFootage", Counter())  # (not a defaultdict entry)
    shares = period.by_operation.get("ShareFootage", Counter())
    for name, label, value in (
        ("requests", "footage requests made", asks["allow"]),
        ("asked", "cameras asked", period.footage["asked"]),
        *(
            (kind, f"cameras {done} by their owners", period.footage[kind])
            for kind, done in FOOTAGE_DECISIONS
        ),
        ("shared", "videos shared with agencies", shares["allow"]),
        (
            "refused",
            "share attempts refused",
            shares["deny"] + shares["refused"] + shares["error"],
        ),
    ):
        footage.rows.append((label, {"count": ledger.put(("footage", name), value)}))
    for name, operation, columns in (
        ("requests", "RequestFootage", ("allowed",)),
        ("shared", "ShareFootage", ("allowed",)),
        ("refused", "ShareFootage", ("denied", "refused", "error")),
    ):
        if operation in period.by_operation:
            ledger.relate(("footage", name), [("operation", operation, c) for c in columns])

    # The audit chain: its record count is never withheld (a verifier checks an export against
    # it); it is the sum of requests and actions, so that sum must not expose a withheld total.
    ledger.put(("chain", "records"), period.records, fixed=True)
    ledger.relate(("chain", "records"), [("all", "total"), ("actions", "total")])

    cells = suppress(ledger.values, ledger.relations, ledger.fixed)
    if unknown_deleted:
        cells[("gallery", "faces_deleted_on_request")] = Cell(0, "unknown")
    timing = review_timing(period.review_seconds)
    signer = services.audit.signer
    audit_chain = {
        "records_in_period": period.records,
        "first_seq_in_period": period.first_seq,
        "last_seq_in_period": period.last_seq,
        "checkpoints_in_period": period.checkpoints_in_period,
        "head_seq": period.head_seq,
        "head_hash": period.head_hash,
        "latest_checkpoint": period.checkpoint,
        "public_key_id": signer.key_id,
        "public_key_pem": signer.public_pem,
        "export_command": (
            f"facegate audit export --since {start.isoformat()} --until {end.isoformat()} "
            "--output audit.jsonl"
        ),
        "verify_command": "facegate audit verify --export audit.jsonl --public-key audit-key.pem",
    }
    demographic = demographic_audit(services)

    published = (*tables, denials, reviews, gallery, footage, actions)
    csv_paths = [t.write_csv(out_dir, cells) for t in published]
    csv_paths.append(
        _csv(
            out_dir / "review_time_to_decision.csv",
            ["statistic", "seconds", "shown"],
            [[n, timing[f"{n}_seconds"], timing[n]] for n in ("median", "p90")],
        )
    )
    csv_paths.append(
        _csv(
            out_dir / "policy_versions.csv",
            ["version", "first_seen", "last_seen"],
            [[v["version"], v["first_seen"], v["last_seen"]] for v in period.versions],
        )
    )
    requests_total, denied_total = cells[("all", "total")], cells[("all", "denied")]
    gallery_json = gallery.to_json(cells)
    gallery_json["measures"] = {
        key[1]: cells[key].to_json() for key in cells if key[0] == "gallery"
    }
    document: dict[str, Any] = {
        "report": "facegate transparency report",
        "format": "facegate-transparency/1",
        "product": {"name": "facegate", "version": __version__},
        "generated_at": generated.isoformat(),
        "period": {"from": start.isoformat(), "to": end.isoformat(), "end_exclusive": True},
        "suppression": {
            "small": f"counts from 1 to {SMALL - 1} are withheld and shown as {SMALL_MARK!r}",
            "complementary": f"counts withheld so that no {SMALL_MARK!r} count can be "
            f"recomputed from a total are shown as {WITHHELD_MARK!r}; each is at least {SMALL}",
            "json": 'a withheld count is {"value": null, "suppressed": true, "shown": mark}',
            "review_times": f"shown only when at least {SMALL} reviews were decided",
            "rules": "docs/reports.md",
        },
        "headline": {
            "requests": requests_total.to_json(),
            "denied": denied_total.to_json(),
            "audit_records": period.records,
        },
        "requests": {t.name: t.to_json(cells) for t in tables},
        "denials_by_rule": denials.to_json(cells),
        "reviews": {"by_status": reviews.to_json(cells), "time_to_decision": timing},
        "gallery": gallery_json,
        "footage": {
            **footage.to_json(cells),
            "measures": {key[1]: cells[key].to_json() for key in cells if key[0] == "footage"},
        },
        "actions": actions.to_json(cells),
        "policy_versions": period.versions,
        "audit_chain": audit_chain,
        "demographic_audit": demographic,
    }

    def chart(title: str, table: Table, column: str) -> dict[str, str]:
        rows = [(label, keys) for label, keys in table.rows if label != ALL]
        return bar_chart(title, [label for label, _ in rows], [cells[k[column]] for _, k in rows])

    charts = [
        chart("Requests by sector", tables[0], "total"),
        bar_chart(
            "Requests by decision",
            [c for _, c in DECISIONS],
            [cells[("all", c)] for _, c in DECISIONS],
        ),
        chart("Requests by operation class", tables[2], "total"),
        chart("Denials by rule", denials, "denials"),
        chart("Human reviews by status", reviews, "reviews"),
    ]
    html = (
        _environment()
        .get_template("transparency.html")
        .render(
            version=__version__,
            generated=generated.isoformat(timespec="seconds"),
            start=start.isoformat(),
            end=end.isoformat(),
            small=SMALL,
            small_mark=SMALL_MARK,
            withheld_mark=WITHHELD_MARK,
            unknown_mark=UNKNOWN_MARK,
            requests_total=requests_total.shown,
            denied_total=denied_total.shown,
            request_tables=[t.rendered(cells) for t in tables],
            denials=denials.rendered(cells),
            reviews=reviews.rendered(cells),
            timing=timing,
            gallery=gallery.rendered(cells),
            footage=footage.rendered(cells),
            actions=actions.rendered(cells),
            versions=period.versions,
            chain=audit_chain,
            demographic=demographic,
            charts=charts,
        )
    )
    html_path = out_dir / "transparency.html"
    html_path.write_text(html, encoding="utf-8")
    json_path = out_dir / "transparency.json"
    document["files"] = [p.name for p in (html_path, json_path, *csv_paths)]
    _write_json(json_path, document)
    return {
        "html": str(html_path),
        "json": str(json_path),
        "csv": [str(p) for p in csv_paths],
        "period": document["period"],
        "requests": requests_total.shown,
        "denied": denied_total.shown,
        "audit_records": period.records,
        "policy_versions": [v["version"] for v in period.versions],
        "public_key_id": signer.key_id,
    }


def review_timing(seconds: Sequence[float]) -> dict[str, Any]:
    """Median and 90th percentile of time to decision; withheld below SMALL decided reviews."""
    out: dict[str, Any] = {
        "of": "reviews opened in the period and decided (confirmed or rejected) by a reviewer",
        "minimum_decided_reviews": SMALL,
    }
    if len(seconds) < SMALL:
        return {
            **out,
            "suppressed": True,
            "median_seconds": None,
            "p90_seconds": None,
            "median": WITHHELD_MARK,
            "p90": WITHHELD_MARK,
        }
    median, p90 = round(statistics.median(seconds), 1), round(nearest_rank(seconds, 0.9), 1)
    return {
        **out,
        "suppressed": False,
        "median_seconds": median,
        "p90_seconds": p90,
        "median": _duration(median),
        "p90": _duration(p90),
    }


def _csv(path: Path, header: list[str], rows: Iterable[list[Any]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
    return path


# --- the accountability report ---------------------------------------------------------------

# The capabilities, in the words of policy-rules.md, and the operation that stands for each
# when the policies in force are asked whether this use case may use it.
CAPABILITIES = (
    (
        "detection",
        "detect",
        "DetectFaces",
        "Finds faces in an image and reports each face's box, five landmarks, pose and image "
        "quality. No identity is involved.",
    ),
    (
        "verification",
        "verify",
        "CompareFaces",
        "Compares the face in one image with the faces in another (1:1) and gives a calibrated "
        "similarity from 0 to 100.",
    ),
    (
        "identification",
        "identify",
        "SearchFacesByImage",
        "Searches a collection of enrolled faces for those most similar to a probe face (1:N) and "
        "returns candidates whose similarity reaches the threshold.",
    ),
    (
        "video identification",
        "video-identify",
        "StartFaceSearch",
        "Searches recorded video for faces of a collection (1:N over video).",
    ),
    (
        "enrollment",
        "enroll",
        "IndexFaces",
        "Stores the descriptor of a face (never the image) in a collection, with its legal basis "
        "and provenance, so that it can be searched for.",
    ),
)
TEN_TIMES = 10.0  # a group's false match rate this many times the pooled one is called out


def _rate(value: float | None) -> str:
    """A rate for people: a percentage from 0.01%, else scientific notation."""
    if value is None:
        return "n/a"
    if value == 0:
        return "0"
    if value >= 1e-4:
        return f"{round(value * 100, 2):g}%"
    return f"{value:.1e}"


def _people(n: Any) -> str:
    return f"{n} person" if n == 1 else f"{n} people"


def _table_row(document: dict[str, Any], threshold: float) -> dict[str, Any] | None:
    """The calibration table's row at ``threshold``, or the nearest row below it.

    Below is the cautious side: a lower threshold matches more impostors, so the rates stated
    are not lower than the ones at ``threshold``.
    """
    rows = [r for r in document.get("table", []) if float(r["threshold"]) <= threshold]
    return max(rows, key=lambda r: float(r["threshold"])) if rows else None


def _policy_outcomes(services: Any, use_case: dict[str, Any], sector: str, exemptions: list[str]):
    """What the policies in force answer this use case for each capability, as if a request
    carried every input the rules ask for (case and warrant references, legal basis)."""
    from facegate.policy.point import Inputs, Question, Resource
    from facegate.policy.registry import Principal

    caps = {
        name: int(use_case[name])
        for name in ("searches_per_hour", "searches_per_day", "max_faces")
        if use_case.get(name) is not None
    }
    if use_case.get("video_hours_per_day") is not None:
        caps["video_seconds_per_day"] = int(use_case["video_hours_per_day"] * 3600)
    principal = Principal.described(
        sector=sector,
        purpose=use_case["purpose"],
        use_case_status=use_case["status"],
        operations=use_case["operations"],
        exemptions=exemptions,
        human_review=bool(use_case["human_review"]),
        caps=caps,
    )
    account = Resource("Account", "account", 0, principal.organization)
    collection = Resource("Collection", "collection", 0, principal.organization)
    inputs = Inputs(case="(case)", warrant="(warrant)", basis="(basis)", provenance="(source)")
    outcomes = {}
    for _, kind, operation, _ in CAPABILITIES:
        question = Question(
            operation,
            account if operation in ("DetectFaces", "CompareFaces") else collection,
            inputs,
            attributes=("DEFAULT",) if operation in ("DetectFaces", "IndexFaces") else (),
            threshold=0.0 if operation in ("CompareFaces", "SearchFacesByImage") else None,
            max_results=1 if operation == "SearchFacesByImage" else 0,
        )
        try:
            answer = services.point.explain(principal, question)
        except Exception as exc:  # an operator policy that cannot be evaluated, say
            outcomes[kind] = {"allowed": False, "denied_by": [], "note": str(exc)}
            continue
        allowed = answer["decision"] == "allow"
        # The shaping rules are asked even when the request is denied: they say what would
        # apply if it were allowed (an exemption granted, say).
        floor = (
            services.point.floor_for(use_case["purpose"]) if answer.get("threshold_floor") else None
        )
        outcomes[kind] = {
            "allowed": allowed,
            "denied_by": []
            if allowed
            else list(dict.fromkeys(p["rule"] for p in answer["deciding_policies"])),
            "message": answer.get("message"),
            "threshold_floor": floor,
            "human_review": bool(answer.get("human_review_policies"))
            if kind in ("identify", "video-identify")
            else None,
        }
    return outcomes


def _model_files(chain_: Any) -> tuple[dict[str, str], list[str]]:
    from facegate.vision.models import file_digest

    digests, warnings = {}, []
    for model in (chain_.cnn, chain_.landmarks, chain_.descriptor):
        try:
            digests[model.filename] = file_digest(model.path())
        except (RuntimeError, OSError) as exc:
            warnings.append(f"The SHA-256 of {model.filename} could not be computed: {exc}")
    return digests, warnings


def _calibration_facts(
    document: dict[str, Any], default: float, operating: float
) -> tuple[dict[str, Any], list[str]]:
    """The calibration's groups and rates at the default and operating thresholds, and the
    limitations they imply, in words."""
    dataset = document.get("dataset", {})
    groups = dataset.get("groups", {})
    at_default = _table_row(document, default)
    at_operating = _table_row(document, operating)
    rows = []
    for name, group in groups.items():
        row = {
            "group": name,
            "subjects": group.get("subjects"),
            "genuine_pairs": group.get("genuine_pairs"),
            "same_group_impostor_pairs": group.get("same_group_impostor_pairs"),
            "lowest_supported_fmr": group.get("lowest_supported_fmr"),
        }
        for label, table_row in (("default", at_default), ("operating", at_operating)):
            rates = (table_row or {}).get("groups", {}).get(name, {})
            row[f"fmr_at_{label}"] = rates.get("fmr")
            row[f"fnmr_at_{label}"] = rates.get("fnmr")
        rows.append(row)
    limitations = []
    anchors = [
        f"{a['similarity']:g} is where the false match rate is at most {a['target_fmr']:g} "
        + ("in every demographic group and pooled" if a["rule"] == "worst_group" else "pooled")
        for a in document.get("anchor_rules", [])
    ]
    if anchors:
        limitations.append(
            "A similarity is calibrated to a stated false match rate (FMR: the share of pairs of "
            "different people that reach a threshold) on the calibration data: "
            + "; ".join(anchors)
            + "."
        )
    if at_default is not None:
        pooled = at_default["pooled"]["fmr"]
        high = sorted(
            (
                (r["fmr_at_default"], r["group"])
                for r in rows
                if r["fmr_at_default"] is not None
                and pooled
                and r["fmr_at_default"] >= TEN_TIMES * pooled
            ),
            reverse=True,
        )
        if high:
            limitations.append(
                f"The model separates some groups far worse than others. At the default threshold "
                f"{at_default['threshold']:g}, where the pooled FMR is {_rate(pooled)}, "
                "same-group impostors match "
                + ", ".join(f"{_rate(fmr)} of the time among {g}" for fmr, g in high)
                + f" (at least {TEN_TIMES:g} times the pooled rate)."
            )
    if at_operating is not None:
        fnmr = at_operating["pooled"]["fnmr"]
        fmr = at_operating["pooled"]["fmr"]
        limitations.append(
            f"At threshold {at_operating['threshold']:g} the pooled FMR on the calibration data is "
            f"{_rate(fmr)} and two photos of the same person fail to match {_rate(fnmr)} of the "
            "time (every same-person pair counted, including frontal against three-quarter views). "
            "The higher the threshold, the fewer the false matches and the more the missed ones."
        )
    weak = [
        f"{r['group']} ({_people(r['subjects'])})"
        for r in rows
        if r["lowest_supported_fmr"] is None or r["lowest_supported_fmr"] > 1e-4
    ]
    if weak:
        limitations.append(
            "The calibration data has too few people in some groups to support small rates: for "
            + ", ".join(weak)
            + " it cannot show that the FMR is below 1 in 10,000, only below about one over the "
            "number of same-group impostor pairs (none for a group of one person)."
        )
    limitations.append(
        f"Every rate was measured on the calibration data only ({dataset.get('name', '?')}: "
        f"{dataset.get('subjects', '?')} people, {dataset.get('images', '?')} images). Other "
        "populations and conditions (phone photos, CCTV, children, elderly people) give other, "
        "usually higher, false match rates; docs/calibration.md describes the data."
    )
    failures: Counter = Counter()
    for key, n in dataset.get("failures_to_enroll", {}).items():
        failures[key.rsplit(": ", 1)[-1]] += int(n)
    if failures:
        limitations.append(
            "Faces that fail the quality bar are not enrolled (on the calibration data: "
            + ", ".join(
                f"{n} images for {reason.lower().replace('_', ' ')}"
                for reason, n in sorted(failures.items())
            )
            + "); strongly turned faces cannot be searched for."
        )
    facts = {
        "version": document.get("version"),
        "model_version": document.get("model_version"),
        "metric": document.get("metric"),
        "dataset": {
            k: dataset.get(k)
            for k in ("name", "created", "images", "subjects", "genuine_pairs", "impostor_pairs")
        },
        "group_columns": dataset.get("group_columns"),
        "anchors": document.get("anchor_rules", []),
        "default_threshold": default,
        "operating_threshold": operating,
        "table_threshold_default": at_default["threshold"] if at_default else None,
        "table_threshold_operating": at_operating["threshold"] if at_operating else None,
        "pooled_at_default": (at_default or {}).get("pooled"),
        "pooled_at_operating": (at_operating or {}).get("pooled"),
        "groups": rows,
    }
    return facts, limitations


def accountability(services: Any, use_case_id: int, out_dir: Path) -> dict[str, Any]:
    """Write the SB 6280 accountability report for one use case into ``out_dir``."""
    from facegate.api.operations import OPERATIONS
    from facegate.gallery.tables import Organization
    from facegate.policy.reviews import LEAD_LABEL, LEAD_NOTICE
    from facegate.vision.calibration import shipped_calibration
    from facegate.vision.engine import DEFAULT_SIMILARITY_THRESHOLD
    from facegate.vision.models import DEFAULT_CHAIN

    use_case = services.registry.use_case(use_case_id)
    for who in ("registered_by", "decided_by"):  # a person or the CLI, never a key id
        if str(use_case.get(who) or "").startswith("key:"):
            use_case[who] = "the operator, with an admin API key"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    generated = datetime.now(UTC)
    settings = services.settings
    governance = settings.governance
    warnings: list[str] = []
    organization = use_case["organization"]
    with services.registry.sessions() as s:
        org = s.scalar(select(Organization).where(Organization.name == organization))
        sector = org.sector if org is not None else ""
    exemptions = sorted(
        {e["purpose"] for e in services.registry.exemptions(organization) if e["active"]}
    )
    outcomes = _policy_outcomes(services, use_case, sector, exemptions)
    classes = operation_classes(services)
    served = set(OPERATIONS)
    capabilities = []
    for name, kind, _, what in CAPABILITIES:
        operations = sorted(o for o, k in classes.items() if k == kind)
        outcome = outcomes[kind]
        capabilities.append(
            {
                "capability": name,
                "class": kind,
                "description": what,
                "operations": operations,
                "offered_by_this_version": any(o in served for o in operations),
                "registered_for_this_use_case": kind == "detect" or kind in use_case["operations"],
                "allowed_by_the_policies_in_force": outcome["allowed"],
                "denied_by": outcome["denied_by"],
                "threshold_floor": outcome.get("threshold_floor"),
                "human_review": outcome.get("human_review"),
            }
        )
    identify = outcomes["identify"]
    floors = [o["threshold_floor"] for o in outcomes.values() if o.get("threshold_floor")]
    operating = max(floors) if floors else DEFAULT_SIMILARITY_THRESHOLD
    calibration = shipped_calibration(DEFAULT_CHAIN.calibration).document
    calibration_facts, calibration_limits = _calibration_facts(
        dict(calibration), DEFAULT_SIMILARITY_THRESHOLD, operating
    )
    digests, digest_warnings = _model_files(DEFAULT_CHAIN)
    warnings += digest_warnings
    limitations = [
        "No inference of age, gender, emotion, ethnicity or any other personal trait (rule "
        "NO-ATTRIBUTES): a face is described by its geometry and image quality only.",
        "No live-stream (real-time) identification (rule NO-REALTIME)"
        + (
            "; the operator has enabled it for this use case."
            if use_case.get("realtime")
            else "; it is not enabled for this use case."
        ),
        "A result is a similarity score, a statement of likelihood on test data, never an "
        "identification: people who look alike score high, and the same person can score low "
        "(age, pose, light, image quality).",
        *calibration_limits,
    ]
    review_required = bool(identify.get("human_review"))
    decisions = {
        "support_or_make": "support",
        "statement": "facegate's results support decisions; they never make them. facegate "
        "returns candidates and similarity scores to people and has no interface that acts on a "
        "person.",
        "human_review": {
            "required_for_identification": review_required,
            "quorum": use_case["review_quorum"],
            "how": "Candidate lists of this use case's searches are held back and released to "
            "the requester only after "
            + (
                "two reviewers agree"
                if use_case["review_quorum"] == 2
                else "a reviewer confirms specific candidates"
            )
            + "; a reviewer holds the reviewer role and is never the requester; unanswered "
            f"reviews expire after {governance.review_ttl_hours} hours."
            if review_required
            else "The policies in force do not hold this use case's candidates for human review; "
            "the organization receives candidates directly and must not treat them as "
            "identifications.",
            "label": LEAD_LABEL,
            "notice": LEAD_NOTICE,
        },
        "threshold": {
            "default": DEFAULT_SIMILARITY_THRESHOLD,
            "floor": max(floors) if floors else None,
            "operating": operating,
            "statement": (
                f"Requests are never answered below similarity {operating:g} (THRESHOLD-FLOOR): "
                "a caller's lower threshold is raised to the floor."
                if floors
                else f"No threshold floor binds this use case; the default threshold is "
                f"{DEFAULT_SIMILARITY_THRESHOLD:g} and callers may choose another."
            ),
        },
    }
    data = {
        "inputs": [
            "Images (JPEG or PNG, at most "
            f"{settings.decode.max_bytes // (1024 * 1024)} MB and {settings.decode.max_pixels:,} "
            "pixels) sent with each request: probe images to detect, compare or search, and "
            "enrollment images.",
            "What the organization sends with them: its own image or person labels "
            "(ExternalImageId, UserId), the legal basis and provenance of each enrollment, case "
            "and warrant references, similarity thresholds and the number of candidates wanted.",
        ],
        "generated": [
            "For each face found: a bounding box, five landmarks, pose angles and image quality "
            "measures (brightness, sharpness, confidence).",
            f"For faces compared or searched: a {DEFAULT_CHAIN.dimensions}-number descriptor made "
            f"by the model {DEFAULT_CHAIN.version}, and similarity scores from 0 to 100 "
            f"calibrated by {calibration.get('version')}.",
            "For every request, allowed or denied: one audit record (who, when, which use case "
            "and purpose, which operation, the decision and the rules that made it, thresholds, "
            "case reference, how many results and the face ids returned). Never an image, never "
            "a descriptor.",
        ],
        "stored": [
            "For enrolled faces only: the descriptor, box, geometry and quality, the SHA-256 of "
            "the image (not the image), the label, legal basis and provenance, enrollment time, "
            "last interaction, deletion deadline and use case.",
            "Images are never stored, with one exception: where human review applies, an "
            "encrypted crop of each enrolled face and of a held search's probe face, so that a "
            "reviewer can compare them. Crops are deleted with their face; a review's material "
            f"is deleted {governance.review_retention_days} days after the review closes.",
            "Probe images of detection, comparison and search requests are processed in memory "
            "and discarded.",
        ],
        "processing": [
            "Every request passes one policy decision point before any image is decoded; a "
            "denial names the rule that denied it.",
            "Detection runs dlib's HOG detector, then its CNN detector where needed; faces are "
            "aligned on five landmarks and described by a ResNet descriptor; descriptors are "
            "compared by Euclidean distance, mapped to the calibrated similarity.",
        ],
    }
    retention = {
        "retention_years": use_case["retention_years"],
        "use_case_expires": use_case["expires"],
        "rule": "A stored face is deleted at the earlier of the use case's end "
        f"({use_case['expires']}) and {use_case['retention_years']:g} years after its last "
        "interaction (enrollment, a match in a search, an update) (rule RETENTION, after "
        "Illinois BIPA 15(a)).",
        "purge": f"The server purges faces past their deadline every "
        f"{settings.retention_every_minutes} minutes (also `facegate retention run`), everywhere "
        "(database rows, index files, crops), and writes a deletion receipt whose hash is in "
        "the audit log.",
        "erasure": "Every face of a person (by ExternalImageId or UserId) is erased across the "
        "organization's collections on request (`facegate erase --org ORG --subject ID`, rule "
        "ERASURE, GDPR art. 17: answer within one month), with a receipt.",
        "reviews": f"An unanswered review expires after {governance.review_ttl_hours} hours; "
        "what a review holds (sealed candidate list, crops, release) is deleted "
        f"{governance.review_retention_days} days after it closes.",
        "audit_log": "The audit log is append-only and hash-chained; its head is signed every "
        f"{settings.audit_checkpoint_every} records and every "
        f"{settings.audit_checkpoint_minutes} minutes. No interface changes or deletes records.",
    }
    testing = {
        "demographic_audit": demographic_audit(services),
        "calibration": calibration_facts,
    }
    mitigations = []
    if floors:
        mitigations.append(f"threshold floor {operating:g} (THRESHOLD-FLOOR)")
    if review_required:
        mitigations.append("human review of every candidate list (HUMAN-REVIEW)")
    if sector in ("law_enforcement", "government"):
        mitigations.append("a case reference with every verification and identification")
    if sector == "law_enforcement":
        mitigations.append(
            "the moratorium on law-enforcement identification unless exempt (MORATORIUM), and a "
            "warrant or court order for video identification (WARRANT)"
        )
    caps = [
        f"{label} {use_case[key]:g}"
        for key, label in (
            ("searches_per_hour", "searches per hour"),
            ("searches_per_day", "searches per day"),
            ("max_faces", "candidates per search"),
            ("video_hours_per_day", "video hours per day"),
        )
        if use_case.get(key) is not None
    ]
    if caps:
        mitigations.append("caps against mass surveillance: " + ", ".join(caps))
    civil_rights = {
        "disparate_impact": "The calibration shows much higher false match rates for some "
        "demographic groups at low thresholds (see limitations); a false match can direct "
        "suspicion or a decision at the wrong person.",
        "mitigations_in_force": mitigations,
    }
    feedback = {"contact": None, "placeholder": FEEDBACK_PLACEHOLDER}
    warnings.insert(
        0,
        "The public feedback section is a placeholder: facegate has no setting for a feedback "
        "contact yet; fill it in before publishing the report.",
    )
    if use_case["status"] != "approved":
        warnings.append(
            f"Use case {use_case_id} is {use_case['status']}, not approved: its keys cannot "
            "verify, identify or enroll."
        )
    due = _years_later(generated, UPDATE_EVERY_YEARS).date()
    document = {
        "report": "facegate accountability report",
        "format": "facegate-accountability/1",
        "law": "Washington SB 6280 (2020), chapter 43.386 RCW: accountability report",
        "generated_at": generated.isoformat(),
        "update": {
            "statement": "To be updated at least every two years, and whenever the use case, the "
            "model or the policies change.",
            "next_update_due": due.isoformat(),
        },
        "vendor": {
            "vendor": "the facegate project (open source, self-hosted)",
            "product": "facegate",
            "version": __version__,
            "licence": "Apache-2.0",
            "policy_set_version": services.point.version,
        },
        "model": {**DEFAULT_CHAIN.describe(), "sha256": digests},
        "agency": {"organization": organization, "sector": sector, "exemptions": exemptions},
        "use_case": use_case,
        "capabilities": capabilities,
        "limitations": limitations,
        "data": data,
        "decisions": decisions,
        "data_management": retention,
        "testing": testing,
        "civil_rights": civil_rights,
        "public_feedback": feedback,
        "warnings": warnings,
    }
    html = (
        _environment()
        .get_template("accountability.html")
        .render(
            r=document,
            generated=generated.date().isoformat(),
            outcomes=outcomes,
            rate=_rate,
        )
    )
    html_path = out_dir / "accountability.html"
    html_path.write_text(html, encoding="utf-8")
    json_path = out_dir / "accountability.json"
    _write_json(json_path, document)
    return {
        "html": str(html_path),
        "json": str(json_path),
        "use_case": use_case_id,
        "status": use_case["status"],
        "generated_at": generated.isoformat(),
        "next_update_due": due.isoformat(),
        "warnings": warnings,
    }


def _years_later(moment: datetime, years: int) -> datetime:
    """The same day ``years`` later (28 February for 29 February)."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)

"""FAIRNESS-GATE: identification with a model version only while a recorded demographic audit
of that version is within the operator's limits.

An operator records an audit (the JSON report of ``facegate fairness evaluate``) with
``facegate fairness record REPORT.json`` and sets limits (``FACEGATE_FAIRNESS_LIMITS``, e.g.
``fmr_max_geomean=3,garbe=0.25``). With the gate on (``FACEGATE_FAIRNESS_GATE=on``), the
policy decision point denies identification unless the latest audit of the serving model
version meets every limit; the denial names the audit and the measure that failed. A measure
the audit could not compute (undefined, insufficient data) does not meet a limit. The limits
an operator can set, and the parsing of ``FACEGATE_FAIRNESS_LIMITS``, are in
:mod:`facegate.config` (``FAIRNESS_LIMITS``, ``parse_fairness_limits``).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from facegate.config import DEFAULT_FAIRNESS_LIMITS as DEFAULT_LIMITS
from facegate.config import FAIRNESS_LIMITS as LIMITS
from facegate.errors import InvalidParameterException
from facegate.fairness.tables import FairnessAudit

REPORT_FORMAT = "facegate-fairness-report/1"
CACHE_SECONDS = 2.0


@dataclass(frozen=True)
class GateStatus:
    enabled: bool
    passed: bool
    audit_id: int | None = None
    failed: tuple[str, ...] = ()
    message: str = ""

    @property
    def closed(self) -> bool:
        return self.enabled and not self.passed


def _value(summary: dict[str, Any], measure: str) -> float | None:
    item = summary.get(measure)
    if isinstance(item, dict):
        item = item.get("value")
    return None if item is None else float(item)


def judge(summary: dict[str, Any], limits: dict[str, float]) -> list[str]:
    """The limits an audit's summary fails, in words (empty: within every limit)."""
    failed = []
    for name, bound in sorted(limits.items()):
        measure, direction = LIMITS[name]
        value = _value(summary, measure)
        if value is None:
            failed.append(f"{measure} is undefined in the audit (limit {bound:g})")
        elif direction == "max" and value > bound:
            failed.append(f"{measure} {value:.4g} > {bound:g}")
        elif direction == "min" and value < bound:
            failed.append(f"{measure} {value:.4g} < {bound:g}")
    return failed


@dataclass
class FairnessGate:
    sessions: sessionmaker[Session]
    model_version: str
    enabled: bool = False
    limits: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    _cached: tuple[float, GateStatus] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def status(self) -> GateStatus:
        """The gate for the serving model version (re-read from SQL every few seconds)."""
        if not self.enabled:
            return GateStatus(enabled=False, passed=True)
        with self._lock:
            if self._cached and time.monotonic() - self._cached[0] < CACHE_SECONDS:
                return self._cached[1]
        status = self._evaluate()
        with self._lock:
            self._cached = (time.monotonic(), status)
        return status

    def _evaluate(self) -> GateStatus:
        with self.sessions() as s:
            audit = s.scalars(
                select(FairnessAudit)
                .where(FairnessAudit.model_version == self.model_version)
                .order_by(FairnessAudit.recorded_at.desc(), FairnessAudit.id.desc())
                .limit(1)
            ).first()
        if audit is None:
            return GateStatus(
                True,
                False,
                message=f"no demographic audit of model {self.model_version} is on record",
            )
        failed = judge(json.loads(audit.summary), self.limits)
        if failed:
            return GateStatus(
                True,
                False,
                audit.id,
                tuple(failed),
                f"audit {audit.id} of model {self.model_version} is outside the limits: "
                + "; ".join(failed),
            )
        return GateStatus(True, True, audit.id, (), f"audit {audit.id} is within the limits")

    def record(
        self,
        report: dict[str, Any],
        raw: bytes,
        by: str,
        record: Callable[[Session, dict[str, Any]], None],
    ) -> dict[str, Any]:
        """Record an audit report (the runner's JSON); answers what the gate now says.
        ``record`` writes the audit record of it in the same transaction."""
        if report.get("format") != REPORT_FORMAT:
            raise InvalidParameterException(
                f"Not a facegate fairness report (format {report.get('format')!r}; expected "
                f"{REPORT_FORMAT!r}). Produce one with `facegate fairness evaluate`."
            )
        for key in ("model_version", "summary", "groups"):
            if key not in report:
                raise InvalidParameterException(f"The report has no {key!r}.")
        audit = FairnessAudit(
            model_version=str(report["model_version"])[:64],
            recorded_at=datetime.now(UTC),
            recorded_by=by,
            dataset=str(report.get("dataset", ""))[:255],
            target_fmr=str(report.get("target_fmr", ""))[:32],
            report_sha256=hashlib.sha256(raw).hexdigest(),
            summary=json.dumps(report["summary"], sort_keys=True),
            groups=json.dumps(report["groups"], sort_keys=True),
        )
        with self.sessions.begin() as s:
            s.add(audit)
            s.flush()
            out = {
                "audit_id": audit.id,
                "model_version": audit.model_version,
                "report_sha256": audit.report_sha256,
                "within_limits": not judge(report["summary"], self.limits),
                "failed": judge(report["summary"], self.limits),
                "limits": self.limits,
            }
            record(s, out)
        with self._lock:
            self._cached = None
        return out

    def latest(self) -> dict[str, Any] | None:
        """The latest recorded audit of any model version (for the reports)."""
        with self.sessions() as s:
            audit = s.scalars(
                select(FairnessAudit).order_by(FairnessAudit.recorded_at.desc()).limit(1)
            ).first()
            if audit is None:
                return None
            return {
                "audit_id": audit.id,
                "model_version": audit.model_version,
                "recorded_at": audit.recorded_at.isoformat(),
                "dataset": audit.dataset,
                "target_fmr": audit.target_fmr,
                "report_sha256": audit.report_sha256,
                "summary": json.loads(audit.summary),
                "groups": json.loads(audit.groups),
                "within_limits": not judge(json.loads(audit.summary), self.limits),
            }

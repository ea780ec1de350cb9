"""The demographic-audit section both reports carry (FAIRNESS-GATE)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from facegate.reports.sources import Sources


def demographic_audit(services: Sources) -> dict[str, Any]:
    """The latest recorded demographic audit (FAIRNESS-GATE), summarized; or none on record.

    Published: the model version, day recorded, data set, target FMR, the report's SHA-256,
    the summary measures, per-group rates and whether the operator's limits are met. Not
    published: who recorded it.
    """
    governance = services.settings.governance
    gate = {"enabled": bool(governance.fairness_gate), "limits": dict(governance.fairness_limits)}
    try:
        latest = services.fairness.latest()
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
    groups = []
    for name, group in sorted((latest.get("groups") or {}).items()):
        group = group if isinstance(group, dict) else {}
        groups.append(
            {
                "group": name,
                "subjects": group.get("subjects"),
                "fmr": _measure(group.get("fmr"))["value"],
                "fnmr": _measure(group.get("fnmr"))["value"],
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
        "summary": {k: _measure(v) for k, v in sorted((latest.get("summary") or {}).items())},
        "groups": groups,
        "gate": gate,
        "note": "The latest demographic bias audit on record: false match and false non-match "
        "rates per demographic group at one global threshold (NIST's method) and the summary "
        "measures. The full report is the file whose SHA-256 is given.",
    }


def _measure(item: Any) -> dict[str, Any]:
    """A summary measure as recorded: a bare value, or a value with the reason it is absent."""
    if isinstance(item, dict):
        return {"value": item.get("value"), "reason": item.get("reason")}
    return {"value": item, "reason": None}

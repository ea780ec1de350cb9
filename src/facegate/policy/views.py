"""How use cases and exemptions are shown (the admin API, the CLI, the console, reports)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from facegate.db import aware
from facegate.policy.tables import Exemption, UseCase


def _iso(moment: datetime | None) -> str | None:
    return aware(moment).isoformat() if moment else None


def use_case_view(u: UseCase, organization: str, now: datetime) -> dict[str, Any]:
    expired = u.status == "approved" and aware(u.expires_at) <= now
    return {
        "id": u.id,
        "organization": organization,
        "purpose": u.purpose,
        "description": u.description,
        "legal_basis": u.legal_basis,
        "operations": json.loads(u.operations),
        "status": "expired" if expired else u.status,
        "expires": _iso(u.expires_at),
        "registered": _iso(u.registered_at),
        "registered_by": u.registered_by,
        "decided_by": u.decided_by,
        "decided": _iso(u.decided_at),
        "decision_reason": u.decision_reason,
        "human_review": u.human_review,
        "review_quorum": u.review_quorum,
        "searches_per_hour": u.searches_per_hour,
        "searches_per_day": u.searches_per_day,
        "max_faces": u.max_faces,
        "video_hours_per_day": u.video_hours_per_day,
        "realtime": u.realtime,
        "retention_years": u.retention_years,
    }


def exemption_view(e: Exemption, organization: str, now: datetime) -> dict[str, Any]:
    active = e.revoked_at is None and aware(e.expires_at) > now
    return {
        "id": e.id,
        "organization": organization,
        "purpose": e.purpose,
        "reason": e.reason,
        "granted_by": e.granted_by,
        "granted": _iso(e.granted_at),
        "expires": _iso(e.expires_at),
        "revoked": _iso(e.revoked_at),
        "revoked_by": e.revoked_by,
        "revoke_reason": e.revoke_reason,
        "active": active,
    }

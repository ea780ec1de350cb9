"""Who a request comes from, as the policies see it: the :class:`Principal` of a key or of a
member signed in to the console, assembled at one instant from the organization, the
member, the key's use case and the organization's exemptions.

Also the vocabulary the policies bind on: operation classes, purposes, sectors.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facegate.db import aware
from facegate.errors import InvalidParameterException, ResourceNotFoundException
from facegate.gallery.tables import SECTORS, AccessKey, Organization
from facegate.policy.tables import Exemption, Member, UseCase

# Operation classes (policy-rules.md). detect and manage need no registration.
OPERATION_CLASSES = ("verify", "identify", "video-identify", "enroll", "manage", "detect")
GATED_CLASSES = ("verify", "identify", "video-identify", "enroll")

# The purpose vocabulary and the operation classes each purpose can register for. An operator
# extends it with FACEGATE_PURPOSES (see docs/policy.md).
PURPOSES: dict[str, tuple[str, ...]] = {
    "missing_persons": ("verify", "identify", "video-identify", "enroll"),
    "trafficking_victims": ("verify", "identify", "video-identify", "enroll"),
    "criminal_investigation": ("verify", "identify", "video-identify", "enroll"),
    "identity_verification": ("verify", "enroll"),
    "access_control": ("verify", "identify", "enroll"),
    "photo_organization": ("verify", "identify", "enroll"),
    "media_archive": ("verify", "identify", "video-identify", "enroll"),
    "research_evaluation": ("verify", "identify", "enroll"),
    # A community organization whose members share their cameras' footage (FOOTAGE-CONSENT):
    # no gated class; its keys register cameras and answer footage requests.
    "footage_sharing": (),
}
# SURVEILLANCE-LIMITS: the default cap on candidates per search, by sector.
DEFAULT_MAX_FACES = {"law_enforcement": 10}
SERVICE_KEY_ROLES = ("analyst",)
CONSOLE_KEY = "console"  # the access key id the audit log shows for console actions


@dataclass(frozen=True)
class Principal:
    """Who a request comes from, as the policies see it."""

    access_key_id: str
    organization_id: int
    organization: str
    sector: str
    operator: bool
    holder: str  # "member:<id>" or "key:<access key id>"
    member: str  # the member's name ("" for a service key)
    roles: tuple[str, ...]
    use_case_id: int | None = None
    purpose: str = ""
    use_case_status: str = "none"
    operations: tuple[str, ...] = ()
    human_review: bool = False
    review_quorum: int = 1
    realtime: bool = False
    exemptions: tuple[str, ...] = ()
    caps: dict[str, int] = field(default_factory=dict)
    # RETENTION: faces enrolled under the use case are deleted by its end, or this many years
    # after their last interaction, whichever comes first.
    use_case_expires: datetime | None = None
    retention_years: float = 3.0

    @classmethod
    def described(
        cls,
        *,
        sector: str,
        purpose: str = "",
        use_case_status: str = "approved",
        operations: Iterable[str] = (),
        exemptions: Iterable[str] = (),
        roles: Iterable[str] = SERVICE_KEY_ROLES,
        human_review: bool = False,
        caps: dict[str, int] | None = None,
    ) -> Principal:
        """A principal described rather than looked up (``policy explain``, benchmarks)."""
        return cls(
            access_key_id="DESCRIBED",
            organization_id=0,
            organization="(described)",
            sector=check_sector(sector),
            operator=False,
            holder="key:DESCRIBED",
            member="",
            roles=tuple(roles),
            purpose=purpose,
            use_case_status=use_case_status if purpose else "none",
            operations=tuple(operations),
            human_review=human_review,
            exemptions=tuple(exemptions),
            caps=dict(caps or {}),
        )


def check_sector(sector: str) -> str:
    if sector not in SECTORS:
        raise InvalidParameterException(
            f"Unknown sector {sector!r}; the sectors are {', '.join(SECTORS)}."
        )
    return sector


def key_principal(s: Session, access_key_id: str, now: datetime) -> Principal:
    """What the policies know about a key at ``now``. Unknown or revoked: not found."""
    key = s.get(AccessKey, access_key_id)
    if key is None or key.revoked_at is not None:
        raise ResourceNotFoundException(
            f"No active access key {access_key_id} (unknown or revoked)."
        )
    org = s.get(Organization, key.organization_id)
    assert org is not None
    if key.member_id is not None:
        member = s.get(Member, key.member_id)
        assert member is not None
        holder, name, roles = f"member:{member.id}", member.name, json.loads(member.roles)
    else:
        holder, name, roles = f"key:{key.access_key_id}", "", list(SERVICE_KEY_ROLES)
    base = _base(s, org, now, key.access_key_id, holder, name, roles)
    u = s.get(UseCase, key.use_case_id) if key.use_case_id is not None else None
    return Principal(**base) if u is None else _with_use_case(base, u, now)


def member_principal(
    s: Session, member_id: int, now: datetime, purpose: str | None = None
) -> Principal:
    """What the policies know about a member signed in to the console: no use case (the
    console reviews, administers and audits; it does not search), or with ``purpose`` the
    organization's approved, unexpired use case of that purpose that runs longest (camera
    owners act under their ``footage_sharing`` use case), if there is one."""
    member = s.get(Member, member_id)
    if member is None:
        raise ResourceNotFoundException(f"No member {member_id}.")
    org = s.get(Organization, member.organization_id)
    assert org is not None
    roles = json.loads(member.roles)
    base = _base(s, org, now, CONSOLE_KEY, f"member:{member.id}", member.name, roles)
    if purpose is None:
        return Principal(**base)
    usable = [
        u
        for u in s.scalars(
            select(UseCase).where(
                UseCase.organization_id == org.id,
                UseCase.purpose == purpose,
                UseCase.status == "approved",
            )
        )
        if aware(u.expires_at) > now
    ]
    if not usable:
        return Principal(**base)
    chosen = max(usable, key=lambda u: (aware(u.expires_at), u.id))
    return _with_use_case(base, chosen, now)


def _with_use_case(base: dict[str, Any], u: UseCase, now: datetime) -> Principal:
    """A principal under use case ``u``: its purpose, status, operations, review, caps."""
    status = "expired" if aware(u.expires_at) <= now else u.status
    caps = {
        name: int(value)
        for name, value in (
            ("searches_per_hour", u.searches_per_hour),
            ("searches_per_day", u.searches_per_day),
            ("max_faces", u.max_faces),
            (
                "video_seconds_per_day",
                None if u.video_hours_per_day is None else u.video_hours_per_day * 3600,
            ),
        )
        if value is not None
    }
    return Principal(
        **base,
        use_case_id=u.id,
        purpose=u.purpose,
        use_case_status=status,
        operations=tuple(json.loads(u.operations)),
        human_review=u.human_review,
        review_quorum=u.review_quorum,
        realtime=u.realtime,
        caps=caps,
        use_case_expires=aware(u.expires_at),
        retention_years=u.retention_years,
    )


def _base(
    s: Session,
    org: Organization,
    now: datetime,
    access_key_id: str,
    holder: str,
    name: str,
    roles: list[str],
) -> dict[str, Any]:
    """What a principal is apart from its use case: organization, holder, roles, exemptions."""
    exemptions = sorted(
        {
            e.purpose
            for e in s.scalars(
                select(Exemption).where(
                    Exemption.organization_id == org.id, Exemption.revoked_at.is_(None)
                )
            )
            if aware(e.expires_at) > now
        }
    )
    return {
        "access_key_id": access_key_id,
        "organization_id": org.id,
        "organization": org.name,
        "sector": org.sector,
        "operator": org.is_operator,
        "holder": holder,
        "member": name,
        "roles": tuple(roles),
        "exemptions": tuple(exemptions),
    }

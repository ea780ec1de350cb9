"""Organizations' people, use-case registrations and exemptions, and the principal of a key.

An organization registers use cases (purpose, description, legal basis, the operation classes
it needs, an expiry); the operator approves, rejects or revokes each, and who, when and why is
kept. Keys are issued for one approved use case. The operator grants vetted exemptions from
the moratorium with a reason and an expiry. :meth:`Registry.principal` assembles what the
policies need to know about a key, at one instant.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from facegate.audit.log import Record
from facegate.db import aware, utcnow
from facegate.errors import (
    ConflictException,
    InvalidParameterException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from facegate.gallery.tables import SECTORS, AccessKey, Organization
from facegate.policy.tables import EXEMPT_PURPOSES, ROLES, Exemption, Member, UseCase

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


def _exemption_view(e: Exemption, organization: str, now: datetime) -> dict[str, Any]:
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


def _required(value: str | None, what: str) -> str:
    if value is None or not value.strip():
        raise InvalidParameterException(f"{what} is required and cannot be empty.")
    if len(value) > 2000:
        raise InvalidParameterException(f"{what} is longer than 2000 characters.")
    return value.strip()


class Registry:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        purposes: dict[str, tuple[str, ...]] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.sessions = sessions
        self.purposes = dict(purposes or PURPOSES)
        self.clock = clock

    # --- organizations and members ---------------------------------------------------------

    @staticmethod
    def organization(s: Session, name: str) -> Organization:
        org = s.scalar(select(Organization).where(Organization.name == name))
        if org is None:
            raise ResourceNotFoundException(f"No organization {name!r}.")
        return org

    def set_sector(
        self, organization: str, sector: str, record: Record | None = None
    ) -> dict[str, Any]:
        check_sector(sector)
        with self.sessions.begin() as s:
            org = self.organization(s, organization)
            org.sector = sector
            _recorded(s, record)
        return {"organization": organization, "sector": sector}

    def add_member(
        self, organization: str, name: str, roles: list[str], record: Record | None = None
    ) -> dict[str, Any]:
        name = _required(name, "The member's name")
        unknown = sorted(set(roles) - set(ROLES))
        if not roles or unknown:
            raise InvalidParameterException(
                f"Roles must be one or more of {', '.join(ROLES)}; "
                f"got {', '.join(roles) or 'none'}."
            )
        with self.sessions.begin() as s:
            org = self.organization(s, organization)
            exists = s.scalar(
                select(Member).where(Member.organization_id == org.id, Member.name == name)
            )
            if exists is not None:
                raise ResourceAlreadyExistsException(
                    f"{organization} already has a member {name!r}."
                )
            s.add(
                Member(
                    organization_id=org.id,
                    name=name,
                    roles=json.dumps(sorted(set(roles))),
                    created_at=self.clock(),
                )
            )
            _recorded(s, record)
        return {"organization": organization, "member": name, "roles": sorted(set(roles))}

    def members(self, organization: str) -> list[dict[str, Any]]:
        with self.sessions() as s:
            org = self.organization(s, organization)
            return [
                {"organization": organization, "member": m.name, "roles": json.loads(m.roles)}
                for m in s.scalars(
                    select(Member).where(Member.organization_id == org.id).order_by(Member.name)
                )
            ]

    def member_id(self, s: Session, organization_id: int, name: str) -> int:
        m = s.scalar(
            select(Member).where(Member.organization_id == organization_id, Member.name == name)
        )
        if m is None:
            raise ResourceNotFoundException(f"No member {name!r} in this organization.")
        return m.id

    # --- use cases -------------------------------------------------------------------------

    def register_use_case(
        self,
        organization: str,
        *,
        purpose: str,
        description: str,
        legal_basis: str,
        operations: list[str],
        expires: datetime,
        registered_by: str,
        human_review: bool = False,
        review_quorum: int = 1,
        searches_per_hour: int | None = None,
        searches_per_day: int | None = None,
        max_faces: int | None = None,
        video_hours_per_day: float | None = None,
        realtime: bool = False,
        retention_years: float = 3.0,
        record: Record | None = None,
    ) -> dict[str, Any]:
        now = self.clock()
        if purpose not in self.purposes:
            raise InvalidParameterException(
                f"Unknown purpose {purpose!r}; the vocabulary is {', '.join(self.purposes)}."
            )
        wanted = list(dict.fromkeys(operations))
        allowed = set(self.purposes[purpose]) | {"detect", "manage"}
        bad = [op for op in wanted if op not in OPERATION_CLASSES or op not in allowed]
        if not wanted or bad:
            raise InvalidParameterException(
                f"Operations for purpose {purpose} must be among "
                f"{', '.join(self.purposes[purpose])} (and detect, manage); "
                f"got {', '.join(wanted) or 'none'}."
            )
        if aware(expires) <= now:
            raise InvalidParameterException("The expiry of a use case must be in the future.")
        if not 0 < retention_years <= 100:
            raise InvalidParameterException(
                "The retention period is more than 0 and at most 100 years."
            )
        if review_quorum not in (1, 2):
            raise InvalidParameterException("The review quorum is 1 or 2 reviewers.")
        for label, cap in (
            ("searches per hour", searches_per_hour),
            ("searches per day", searches_per_day),
            ("max faces", max_faces),
            ("video hours per day", video_hours_per_day),
        ):
            if cap is not None and cap < 0:
                raise InvalidParameterException(f"The cap on {label} cannot be negative.")
        with self.sessions.begin() as s:
            org = self.organization(s, organization)
            if max_faces is None:
                max_faces = DEFAULT_MAX_FACES.get(org.sector)
            u = UseCase(
                organization_id=org.id,
                purpose=purpose,
                description=_required(description, "The description"),
                legal_basis=_required(legal_basis, "The legal basis"),
                operations=json.dumps(wanted),
                expires_at=aware(expires),
                status="pending",
                registered_at=now,
                registered_by=_required(registered_by, "Who registers"),
                human_review=human_review,
                review_quorum=review_quorum,
                searches_per_hour=searches_per_hour,
                searches_per_day=searches_per_day,
                max_faces=max_faces,
                video_hours_per_day=video_hours_per_day,
                realtime=realtime,
                retention_years=retention_years,
            )
            s.add(u)
            _recorded(s, record)
            return use_case_view(u, org.name, now)

    def decide_use_case(
        self, use_case_id: int, decision: str, by: str, reason: str, record: Record | None = None
    ) -> dict:
        """approve, reject or revoke a registration; who, when and why are kept."""
        now = self.clock()
        transitions = {
            "approve": ({"pending"}, "approved"),
            "reject": ({"pending"}, "rejected"),
            "revoke": ({"approved"}, "revoked"),
        }
        if decision not in transitions:
            raise InvalidParameterException("The decision is approve, reject or revoke.")
        before, after = transitions[decision]
        with self.sessions.begin() as s:
            u = s.get(UseCase, use_case_id)
            if u is None:
                raise ResourceNotFoundException(f"No use case {use_case_id}.")
            if u.status not in before:
                raise ConflictException(
                    f"Use case {use_case_id} is {u.status}; only a "
                    f"{' or '.join(sorted(before))} registration can be {after}."
                )
            if decision == "approve" and aware(u.expires_at) <= now:
                raise ConflictException(f"Use case {use_case_id} has expired; register it anew.")
            u.status = after
            u.decided_by = _required(by, "Who decides")
            u.decided_at = now
            u.decision_reason = _required(reason, "The reason")
            org = s.get(Organization, u.organization_id)
            assert org is not None
            _recorded(s, record)
            return use_case_view(u, org.name, now)

    def use_cases(self, organization: str | None = None) -> list[dict[str, Any]]:
        now = self.clock()
        with self.sessions() as s:
            query = select(UseCase, Organization.name).join(
                Organization, UseCase.organization_id == Organization.id
            )
            if organization:
                query = query.where(Organization.name == organization)
            return [use_case_view(u, o, now) for u, o in s.execute(query.order_by(UseCase.id))]

    def use_case(self, use_case_id: int) -> dict[str, Any]:
        with self.sessions() as s:
            u = s.get(UseCase, use_case_id)
            if u is None:
                raise ResourceNotFoundException(f"No use case {use_case_id}.")
            org = s.get(Organization, u.organization_id)
            assert org is not None
            return use_case_view(u, org.name, self.clock())

    def approved_use_case(self, s: Session, organization_id: int, use_case_id: int) -> UseCase:
        """The use case a new key is issued for: the organization's own, approved, unexpired."""
        u = s.get(UseCase, use_case_id)
        if u is None or u.organization_id != organization_id:
            raise ResourceNotFoundException(f"No use case {use_case_id} in this organization.")
        if u.status != "approved" or aware(u.expires_at) <= self.clock():
            raise ConflictException(
                f"Use case {use_case_id} is not approved and current; keys are issued only for "
                "an approved, unexpired use case."
            )
        return u

    # --- exemptions ------------------------------------------------------------------------

    def grant_exemption(
        self,
        organization: str,
        purpose: str,
        reason: str,
        expires: datetime,
        by: str,
        record: Record | None = None,
    ) -> dict[str, Any]:
        now = self.clock()
        if purpose not in EXEMPT_PURPOSES:
            raise InvalidParameterException(
                f"Exemptions are for {' or '.join(EXEMPT_PURPOSES)} work; got {purpose!r}."
            )
        if aware(expires) <= now:
            raise InvalidParameterException("The expiry of an exemption must be in the future.")
        with self.sessions.begin() as s:
            org = self.organization(s, organization)
            e = Exemption(
                organization_id=org.id,
                purpose=purpose,
                reason=_required(reason, "The reason"),
                granted_by=_required(by, "Who grants"),
                granted_at=now,
                expires_at=aware(expires),
            )
            s.add(e)
            _recorded(s, record)
            return _exemption_view(e, org.name, now)

    def revoke_exemption(
        self, exemption_id: int, by: str, reason: str, record: Record | None = None
    ) -> dict[str, Any]:
        now = self.clock()
        with self.sessions.begin() as s:
            e = s.get(Exemption, exemption_id)
            if e is None:
                raise ResourceNotFoundException(f"No exemption {exemption_id}.")
            if e.revoked_at is not None:
                raise ConflictException(f"Exemption {exemption_id} is already revoked.")
            e.revoked_at = now
            e.revoked_by = _required(by, "Who revokes")
            e.revoke_reason = _required(reason, "The reason")
            org = s.get(Organization, e.organization_id)
            assert org is not None
            _recorded(s, record)
            return _exemption_view(e, org.name, now)

    def exemptions(self, organization: str | None = None) -> list[dict[str, Any]]:
        now = self.clock()
        with self.sessions() as s:
            query = select(Exemption, Organization.name).join(
                Organization, Exemption.organization_id == Organization.id
            )
            if organization:
                query = query.where(Organization.name == organization)
            return [_exemption_view(e, o, now) for e, o in s.execute(query.order_by(Exemption.id))]

    # --- the principal ---------------------------------------------------------------------

    def principal(self, access_key_id: str, at: datetime | None = None) -> Principal:
        """What the policies know about a key at ``at`` (default now). Unknown: not found."""
        now = at or self.clock()
        with self.sessions() as s:
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
        self, member_id: int, at: datetime | None = None, purpose: str | None = None
    ) -> Principal:
        """What the policies know about a member signed in to the console: no use case (the
        console reviews, administers and audits; it does not search), or with ``purpose`` the
        organization's approved, unexpired use case of that purpose that runs longest (camera
        owners act under their ``footage_sharing`` use case), if there is one."""
        now = at or self.clock()
        with self.sessions() as s:
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


def _recorded(s: Session, record: Record | None) -> None:
    """Flush the change, then append its audit record in the same transaction."""
    s.flush()
    if record is not None:
        record(s, {})


def check_sector(sector: str) -> str:
    if sector not in SECTORS:
        raise InvalidParameterException(
            f"Unknown sector {sector!r}; the sectors are {', '.join(SECTORS)}."
        )
    return sector

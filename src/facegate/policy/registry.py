"""Organizations' people, use-case registrations and exemptions, and the principal of a key.

An organization registers use cases (purpose, description, legal basis, the operation classes
it needs, an expiry); the operator approves, rejects or revokes each, and who, when and why is
kept. Keys are issued for one approved use case. The operator grants vetted exemptions from
the moratorium with a reason and an expiry. :meth:`Registry.principal` assembles what the
policies need to know about a key, at one instant.
"""

from __future__ import annotations

import json
from collections.abc import Callable
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
from facegate.gallery.tables import Organization
from facegate.policy.principal import (
    CONSOLE_KEY,
    DEFAULT_MAX_FACES,
    GATED_CLASSES,
    OPERATION_CLASSES,
    PURPOSES,
    SERVICE_KEY_ROLES,
    Principal,
    check_sector,
    key_principal,
    member_principal,
)
from facegate.policy.tables import EXEMPT_PURPOSES, ROLES, Exemption, Member, UseCase
from facegate.policy.views import exemption_view, use_case_view

# Re-exported: callers name these as the registry's (the vocabulary and the principal).
__all__ = [
    "CONSOLE_KEY",
    "DEFAULT_MAX_FACES",
    "GATED_CLASSES",
    "OPERATION_CLASSES",
    "PURPOSES",
    "SERVICE_KEY_ROLES",
    "Principal",
    "Registry",
    "check_sector",
    "use_case_view",
]


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

    def set_sector(self, organization: str, sector: str, record: Record) -> dict[str, Any]:
        check_sector(sector)
        with self.sessions.begin() as s:
            org = self.organization(s, organization)
            org.sector = sector
            _recorded(s, record)
        return {"organization": organization, "sector": sector}

    def add_member(
        self, organization: str, name: str, roles: list[str], record: Record
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
        record: Record,
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
        self, use_case_id: int, decision: str, by: str, reason: str, record: Record
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
        record: Record,
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
            return exemption_view(e, org.name, now)

    def revoke_exemption(
        self, exemption_id: int, by: str, reason: str, record: Record
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
            return exemption_view(e, org.name, now)

    def exemptions(self, organization: str | None = None) -> list[dict[str, Any]]:
        now = self.clock()
        with self.sessions() as s:
            query = select(Exemption, Organization.name).join(
                Organization, Exemption.organization_id == Organization.id
            )
            if organization:
                query = query.where(Organization.name == organization)
            return [exemption_view(e, o, now) for e, o in s.execute(query.order_by(Exemption.id))]

    # --- the principal ---------------------------------------------------------------------

    def principal(self, access_key_id: str, at: datetime | None = None) -> Principal:
        """What the policies know about a key at ``at`` (default now). Unknown: not found."""
        with self.sessions() as s:
            return key_principal(s, access_key_id, at or self.clock())

    def member_principal(
        self, member_id: int, at: datetime | None = None, purpose: str | None = None
    ) -> Principal:
        """A console member's principal (see :func:`facegate.policy.principal.member_principal`)."""
        with self.sessions() as s:
            return member_principal(s, member_id, at or self.clock(), purpose)


def _recorded(s: Session, record: Record) -> None:
    """Flush the change, then append its audit record in the same transaction."""
    s.flush()
    record(s, {})

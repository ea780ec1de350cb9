"""Organizations and their access keys. Secrets are sealed with the server key, never stored plain.

SigV4 needs the secret itself to recompute a signature, so a secret is encrypted (Fernet) with
the server's master key rather than hashed; the master key lives outside the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from facegate.audit.log import Record
from facegate.auth.secrets import SecretBox, new_access_key_id, new_secret_access_key
from facegate.db import utcnow
from facegate.errors import (
    InvalidParameterException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from facegate.gallery.tables import SECTORS, AccessKey, Organization
from facegate.policy.registry import Registry
from facegate.policy.tables import Member


@dataclass(frozen=True)
class IssuedKey:
    organization: str
    access_key_id: str
    secret_access_key: str  # shown once, never stored in plain text
    use_case_id: int | None = None
    member: str | None = None


class Accounts:
    def __init__(self, sessions: sessionmaker[Session], box: SecretBox):
        self.sessions = sessions
        self.box = box

    def create_organization(
        self,
        name: str,
        *,
        sector: str = "commercial",
        is_operator: bool = False,
        record: Record,
    ) -> int:
        if not name or len(name) > 128:
            raise InvalidParameterException("An organization's name is 1 to 128 characters.")
        if sector not in SECTORS:
            raise InvalidParameterException(
                f"Unknown sector {sector!r}; the sectors are {', '.join(SECTORS)}."
            )
        with self.sessions.begin() as s:
            if s.scalar(select(Organization).where(Organization.name == name)) is not None:
                raise ResourceAlreadyExistsException(f"Organization {name!r} already exists.")
            org = Organization(
                name=name, is_operator=is_operator, sector=sector, created_at=utcnow()
            )
            s.add(org)
            s.flush()
            record(s, {})
            return org.id

    def organizations(self) -> list[dict[str, object]]:
        with self.sessions() as s:
            return [
                {
                    "name": o.name,
                    "sector": o.sector,
                    "operator": o.is_operator,
                    "created": o.created_at.isoformat(),
                }
                for o in s.scalars(select(Organization).order_by(Organization.name))
            ]

    def issue_key(
        self,
        organization: str,
        description: str = "",
        *,
        use_case_id: int | None = None,
        member: str | None = None,
        registry: Registry | None = None,
        record: Record,
    ) -> IssuedKey:
        """A new key, for one approved use case (the operator's admin keys may have none)."""
        secret = new_secret_access_key()
        with self.sessions.begin() as s:
            org = Registry.organization(s, organization)
            use_case = None
            if use_case_id is not None or not org.is_operator:
                if use_case_id is None or registry is None:
                    raise InvalidParameterException(
                        "A key is issued for one approved use case: name it (--use-case ID)."
                    )
                use_case = registry.approved_use_case(s, org.id, use_case_id).id
            member_id = None
            if member:
                if registry is None:
                    raise InvalidParameterException("Keys for members need the registry.")
                member_id = registry.member_id(s, org.id, member)
            key = AccessKey(
                access_key_id=new_access_key_id(),
                organization_id=org.id,
                secret_sealed=self.box.seal(secret),
                description=description[:256],
                use_case_id=use_case,
                member_id=member_id,
                created_at=utcnow(),
            )
            s.add(key)
            s.flush()
            record(s, {"access_key_id": key.access_key_id})
        return IssuedKey(organization, key.access_key_id, secret, use_case, member)

    def revoke_key(self, access_key_id: str, record: Record) -> None:
        with self.sessions.begin() as s:
            key = s.get(AccessKey, access_key_id)
            if key is None:
                raise ResourceNotFoundException(f"No access key {access_key_id}.")
            if key.revoked_at is None:
                key.revoked_at = utcnow()
            s.flush()
            record(s, {})

    def keys(self, organization: str | None = None) -> list[dict[str, object]]:
        with self.sessions() as s:
            query = (
                select(AccessKey, Organization, Member.name)
                .select_from(AccessKey)
                .join(Organization, AccessKey.organization_id == Organization.id)
                .outerjoin(Member, AccessKey.member_id == Member.id)
            )
            if organization:
                query = query.where(Organization.name == organization)
            return [
                {
                    "access_key_id": k.access_key_id,
                    "organization": o.name,
                    "use_case": k.use_case_id,
                    "member": m,
                    "description": k.description,
                    "created": k.created_at.isoformat(),
                    "revoked": k.revoked_at.isoformat() if k.revoked_at else None,
                }
                for k, o, m in s.execute(query.order_by(AccessKey.created_at))
            ]

    def secret_for(self, access_key_id: str) -> str | None:
        """The secret of an active key (None for unknown or revoked keys)."""
        with self.sessions() as s:
            key = s.get(AccessKey, access_key_id)
            if key is None or key.revoked_at is not None:
                return None
            return self.box.open(key.secret_sealed)

    def has_operator(self) -> bool:
        """Whether the operator's organization exists (first start creates it)."""
        with self.sessions() as s:
            return (
                s.scalar(select(Organization.id).where(Organization.is_operator).limit(1))
                is not None
            )

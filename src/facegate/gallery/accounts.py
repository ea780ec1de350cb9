"""Organizations and their access keys. Secrets are sealed with the server key, never stored plain.

SigV4 needs the secret itself to recompute a signature, so a secret is encrypted (Fernet) with
the server's master key rather than hashed; the master key lives outside the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from facegate.auth.secrets import SecretBox, new_access_key_id, new_secret_access_key
from facegate.errors import ResourceAlreadyExistsException, ResourceNotFoundException
from facegate.gallery.schema import AccessKey, Organization


@dataclass(frozen=True)
class Caller:
    """Who a verified request comes from."""

    organization_id: int
    organization: str
    access_key_id: str
    is_operator: bool


@dataclass(frozen=True)
class IssuedKey:
    organization: str
    access_key_id: str
    secret_access_key: str  # shown once, never stored in plain text


def now() -> datetime:
    return datetime.now(UTC)


class Accounts:
    def __init__(self, sessions: sessionmaker[Session], box: SecretBox):
        self.sessions = sessions
        self.box = box

    def create_organization(self, name: str, *, is_operator: bool = False) -> int:
        with self.sessions.begin() as s:
            if s.scalar(select(Organization).where(Organization.name == name)) is not None:
                raise ResourceAlreadyExistsException(f"Organization {name!r} already exists.")
            org = Organization(name=name, is_operator=is_operator, created_at=now())
            s.add(org)
            s.flush()
            return org.id

    def organizations(self) -> list[dict[str, object]]:
        with self.sessions() as s:
            return [
                {"name": o.name, "operator": o.is_operator, "created": o.created_at.isoformat()}
                for o in s.scalars(select(Organization).order_by(Organization.name))
            ]

    def issue_key(self, organization: str, description: str = "") -> IssuedKey:
        secret = new_secret_access_key()
        with self.sessions.begin() as s:
            org = self._organization(s, organization)
            key = AccessKey(
                access_key_id=new_access_key_id(),
                organization_id=org.id,
                secret_sealed=self.box.seal(secret),
                description=description,
                created_at=now(),
            )
            s.add(key)
        return IssuedKey(organization, key.access_key_id, secret)

    def revoke_key(self, access_key_id: str) -> None:
        with self.sessions.begin() as s:
            key = s.get(AccessKey, access_key_id)
            if key is None:
                raise ResourceNotFoundException(f"No access key {access_key_id}.")
            if key.revoked_at is None:
                key.revoked_at = now()

    def keys(self, organization: str | None = None) -> list[dict[str, object]]:
        with self.sessions() as s:
            query = select(AccessKey, Organization).join(Organization)
            if organization:
                query = query.where(Organization.name == organization)
            return [
                {
                    "access_key_id": k.access_key_id,
                    "organization": o.name,
                    "description": k.description,
                    "created": k.created_at.isoformat(),
                    "revoked": k.revoked_at.isoformat() if k.revoked_at else None,
                }
                for k, o in s.execute(query.order_by(AccessKey.created_at))
            ]

    def secret_for(self, access_key_id: str) -> str | None:
        """The secret of an active key (None for unknown or revoked keys)."""
        with self.sessions() as s:
            key = s.get(AccessKey, access_key_id)
            if key is None or key.revoked_at is not None:
                return None
            return self.box.open(key.secret_sealed)

    def caller(self, access_key_id: str) -> Caller:
        with self.sessions() as s:
            key = s.get(AccessKey, access_key_id)
            if key is None:
                raise ResourceNotFoundException(f"No access key {access_key_id}.")
            org = s.get(Organization, key.organization_id)
            assert org is not None
            return Caller(org.id, org.name, key.access_key_id, org.is_operator)

    def is_empty(self) -> bool:
        with self.sessions() as s:
            return s.scalar(select(Organization.id).limit(1)) is None

    @staticmethod
    def _organization(s: Session, name: str) -> Organization:
        org = s.scalar(select(Organization).where(Organization.name == name))
        if org is None:
            raise ResourceNotFoundException(f"No organization {name!r}.")
        return org

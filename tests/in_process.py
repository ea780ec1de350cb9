"""What the in-process tests (no server) share: a fresh, migrated database of each kind with
its audit log, organizations in it, and a request's record as a door makes it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from facegate.audit.log import AuditLog, Entry, Recorder
from facegate.audit.signing import load_or_create_signer
from facegate.audit.tables import AuditRecord
from facegate.db.engine import open_database
from facegate.gallery.tables import Organization
from facegate.policy.registry import Principal

DATABASES = ("sqlite", "postgresql")  # the params of a fixture that makes a Database


def caller(organization: tuple[int, str, str], holder: str, member: str, *roles: str) -> Principal:
    """A principal of ``organization`` (id, name, sector): a member ("member:<id>") or a
    service key ("key:<id>", no member name)."""
    organization_id, name, sector = organization
    return Principal(
        access_key_id=f"AKID{(member or name).upper()}",
        organization_id=organization_id,
        organization=name,
        sector=sector,
        operator=False,
        holder=holder,
        member=member,
        roles=roles,
    )


class Database:
    def __init__(self, request, tmp_path) -> None:
        """On ``request.param``'s kind: a SQLite file in ``tmp_path``, or a fresh PostgreSQL
        database (the ``postgres_databases`` fixture)."""
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path}/t.db"
        else:
            url = request.getfixturevalue("postgres_databases")()
        self.sessions = open_database(url)
        self.audit = AuditLog(self.sessions, load_or_create_signer(tmp_path, None))

    def close(self) -> None:
        self.audit.close()
        self.sessions.kw["bind"].dispose()

    def organization(self, name: str, sector: str) -> int:
        with self.sessions.begin() as s:
            org = Organization(name=name, sector=sector, created_at=datetime.now(UTC))
            s.add(org)
            s.flush()
            return org.id

    def recorder(self, operation: str, who: Principal) -> Recorder:
        """The request's record, allowed, written in the transaction of the change."""
        entry = Entry(
            operation=operation, decision="allow", organization=who.organization, member=who.member
        )
        return Recorder(self.audit, entry)

    def records(self) -> list[tuple[str, str, str]]:
        """(operation, decision, resource) of every record, oldest first."""
        with self.sessions() as s:
            return [
                (r.operation, r.decision, r.resource)
                for r in s.scalars(select(AuditRecord).order_by(AuditRecord.seq))
            ]

"""Console users: Argon2 passwords, lock-out after repeated failures, server-side sessions.

A console user is a member of an organization (``policy.tables.Member``) who may sign in; the
console acts with that member's roles, as the policies see a key held by the member. The
operator organization's members are operators.

Sessions live in SQL. The browser holds a random token in an HttpOnly cookie; the database
holds only its SHA-256, so a stolen database cannot sign anyone in. A session ends after
:data:`IDLE` without use or :data:`ABSOLUTE` after sign-in, and at sign-out.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from facegate.audit.log import AuditLog, Entry, Record
from facegate.db import aware
from facegate.errors import (
    AccessDeniedException,
    InvalidParameterException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from facegate.gallery.tables import Organization
from facegate.policy.tables import ConsoleSession, ConsoleUser, Member

MAX_FAILURES = 5  # consecutive wrong passwords before the account locks
LOCK = timedelta(minutes=15)
IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
MIN_PASSWORD = 12
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-@")

_hasher = PasswordHasher()
# Verified against when the username is unknown, so a wrong name costs as much as a wrong
# password (no timing difference tells which names exist).
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


class SignInRefused(Exception):
    """Why a sign-in failed, in words safe to show (never which part was wrong)."""


@dataclass(frozen=True)
class SignedIn:
    """Who a session belongs to."""

    user_id: int
    username: str
    member_id: int
    member: str
    organization: str
    operator: bool
    roles: tuple[str, ...]
    csrf: str

    @property
    def role_names(self) -> tuple[str, ...]:
        """The console roles: ``operator`` for the operator organization, plus the member's."""
        return (("operator",) if self.operator else ()) + self.roles


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidParameterException(
            f"A console password must be at least {MIN_PASSWORD} characters."
        )
    if len(password) > 1024:
        raise InvalidParameterException("A console password must be at most 1024 characters.")
    return password


def check_username(username: str) -> str:
    name = username.strip().lower()
    if not 1 <= len(name) <= 64 or not set(name) <= USERNAME_CHARS:
        raise InvalidParameterException(
            "A username is 1-64 characters: letters, digits, '.', '_', '-', '@'."
        )
    return name


class ConsoleAccounts:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime],
        audit: AuditLog | None = None,
    ):
        self.sessions = sessions
        self.clock = clock
        self.audit = audit  # sign-ins and sign-outs are recorded with their changes

    # --- users -------------------------------------------------------------------------------

    def create_user(
        self,
        organization: str,
        member: str,
        username: str,
        password: str,
        *,
        created_by: str,
        record: Record,
    ) -> dict[str, Any]:
        """A sign-in for an existing member of ``organization``; ``record`` is called in its
        transaction (the change and its audit record commit together)."""
        name = check_username(username)
        hashed = _hasher.hash(check_password(password))
        with self.sessions.begin() as s:
            org = s.scalar(select(Organization).where(Organization.name == organization))
            if org is None:
                raise ResourceNotFoundException(f"No organization {organization!r}.")
            row = s.scalar(
                select(Member).where(Member.organization_id == org.id, Member.name == member)
            )
            if row is None:
                raise ResourceNotFoundException(f"{organization} has no member {member!r}.")
            if s.scalar(select(ConsoleUser.id).where(ConsoleUser.username == name)) is not None:
                raise ResourceAlreadyExistsException(f"The username {name!r} is taken.")
            user = ConsoleUser(
                username=name,
                member_id=row.id,
                password_hash=hashed,
                failed_attempts=0,
                created_at=self.clock(),
                created_by=created_by,
            )
            s.add(user)
            s.flush()
            out = {
                "username": name,
                "organization": organization,
                "member": member,
                "roles": json.loads(row.roles),
            }
            record(s, out)
        return out

    def users(self, organization: str | None = None) -> list[dict[str, Any]]:
        with self.sessions() as s:
            query = (
                select(ConsoleUser, Member, Organization)
                .join(Member, ConsoleUser.member_id == Member.id)
                .join(Organization, Member.organization_id == Organization.id)
                .order_by(ConsoleUser.username)
            )
            if organization:
                query = query.where(Organization.name == organization)
            return [
                {
                    "username": u.username,
                    "organization": o.name,
                    "member": m.name,
                    "roles": (["operator"] if o.is_operator else []) + json.loads(m.roles),
                    "locked": bool(u.locked_until and aware(u.locked_until) > self.clock()),
                    "last_sign_in": u.last_sign_in.isoformat() if u.last_sign_in else None,
                }
                for u, m, o in s.execute(query)
            ]

    def set_password(self, username: str, password: str, record: Record) -> None:
        """A new password; the user's sessions end and a lock-out is lifted (``record`` is
        called in the change's transaction)."""
        hashed = _hasher.hash(check_password(password))
        with self.sessions.begin() as s:
            user = s.scalar(select(ConsoleUser).where(ConsoleUser.username == username))
            if user is None:
                raise ResourceNotFoundException(f"No console user {username!r}.")
            user.password_hash = hashed
            user.failed_attempts = 0
            user.locked_until = None
            s.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user.id))
            record(s, {"username": username, "password": "changed"})

    # --- signing in --------------------------------------------------------------------------

    def _record(
        self,
        s: Session,
        operation: str,
        user: ConsoleUser | None,
        refusal: str | None,
        request_id: str,
    ) -> None:
        """The sign-in's or sign-out's record, in its transaction. The account is named only
        when it exists (a mistyped username can be a password); no password is ever written."""
        if self.audit is None:
            return
        entry = Entry(
            operation=operation,
            decision="deny" if refusal else "allow",
            resource="console-user",
            reasons=refusal or "",
            error_type="AccessDeniedException" if refusal else "",
            request_id=request_id,
        )
        member = s.get(Member, user.member_id) if user is not None else None
        if user is not None and member is not None:
            org = s.get(Organization, member.organization_id)
            entry.resource = f"console-user/{user.username}"
            entry.member = member.name
            entry.roles = json.loads(member.roles)
            if org is not None:
                entry.organization, entry.sector = org.name, org.sector
        self.audit.append(entry, session=s)

    def sign_in(self, username: str, password: str, request_id: str = "") -> tuple[str, SignedIn]:
        """A new session's token and who it is, or :class:`SignInRefused`.

        A failure is counted in its own committed transaction before it is raised (an
        exception inside the transaction would roll the count back); either way the attempt
        is recorded in that transaction."""
        now = self.clock()
        name = username.strip().lower()[:64]
        refusal: str | None = None
        with self.sessions.begin() as s:
            user = s.scalar(select(ConsoleUser).where(ConsoleUser.username == name))
            if user is None or user.disabled_at is not None:
                _verify(_DUMMY, password)
                refusal = "Wrong username or password."
            elif user.locked_until is not None and aware(user.locked_until) > now:
                refusal = (
                    "This account is locked after repeated failed sign-ins; try again after "
                    f"{aware(user.locked_until):%H:%M} UTC or ask an operator."
                )
            elif not _verify(user.password_hash, password):
                user.failed_attempts += 1
                if user.failed_attempts >= MAX_FAILURES:
                    user.locked_until = now + LOCK
                    user.failed_attempts = 0
                refusal = "Wrong username or password."
            else:
                if _hasher.check_needs_rehash(user.password_hash):
                    user.password_hash = _hasher.hash(password)
                user.failed_attempts = 0
                user.locked_until = None
                user.last_sign_in = now
                token = secrets.token_urlsafe(32)
                csrf = secrets.token_urlsafe(32)
                s.add(
                    ConsoleSession(
                        id=_digest(token),
                        user_id=user.id,
                        csrf=csrf,
                        created_at=now,
                        last_seen=now,
                        expires_at=now + ABSOLUTE,
                    )
                )
                s.flush()
                who = self._who(s, user, csrf)
            self._record(s, "Console.SignIn", user, refusal, request_id)
        if refusal is not None:
            raise SignInRefused(refusal)
        return token, who

    def session(self, token: str | None) -> SignedIn | None:
        """Who holds ``token`` (and the session is touched), or None when it is not valid."""
        if not token or len(token) > 128:
            return None
        now = self.clock()
        with self.sessions.begin() as s:
            row = s.get(ConsoleSession, _digest(token))
            if row is None:
                return None
            if aware(row.expires_at) <= now or aware(row.last_seen) + IDLE <= now:
                s.delete(row)
                return None
            user = s.get(ConsoleUser, row.user_id)
            if user is None or user.disabled_at is not None:
                s.delete(row)
                return None
            row.last_seen = now
            return self._who(s, user, row.csrf)

    def sign_out(self, token: str | None, request_id: str = "") -> None:
        if not token:
            return
        with self.sessions.begin() as s:
            row = s.get(ConsoleSession, _digest(token))
            if row is None:
                return
            user = s.get(ConsoleUser, row.user_id)
            s.delete(row)
            self._record(s, "Console.SignOut", user, None, request_id)

    @staticmethod
    def _who(s: Session, user: ConsoleUser, csrf: str) -> SignedIn:
        member = s.get(Member, user.member_id)
        if member is None:
            raise AccessDeniedException("The console user's member no longer exists.")
        org = s.get(Organization, member.organization_id)
        assert org is not None
        return SignedIn(
            user_id=user.id,
            username=user.username,
            member_id=member.id,
            member=member.name,
            organization=org.name,
            operator=org.is_operator,
            roles=tuple(json.loads(member.roles)),
            csrf=csrf,
        )


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password[:1024])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False

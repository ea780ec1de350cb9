"""Console sign-ins in process (policy.console_users.ConsoleAccounts over a real SQLite and
PostgreSQL database, with an injected clock, no server or browser): a user is created only
with its record, a session lives until idle or absolute expiry or sign-out, five wrong
passwords lock the account, a new password lifts the lock and ends the sessions, and every
sign-in attempt is on the record without the password."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet

from facegate.audit.log import AuditLog, Entry, Recorder
from facegate.auth.secrets import SecretBox
from facegate.db.engine import open_database
from facegate.errors import InvalidParameterException, ResourceNotFoundException
from facegate.policy.accounts import Accounts
from facegate.policy.console_users import (
    ABSOLUTE,
    IDLE,
    LOCK,
    MAX_FAILURES,
    ConsoleAccounts,
    SignInRefused,
)
from facegate.policy.registry import Registry
from tests.test_reviews import Clock

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@pytest.fixture(params=["sqlite", "postgresql"])
def console(request, tmp_path):
    url = (
        f"sqlite:///{tmp_path}/c.db"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_databases")()
    )
    sessions = open_database(url)
    audit = AuditLog(sessions)
    clock = Clock()
    clock.now = START

    def record(action: str) -> Recorder:
        return Recorder(audit, Entry(f"Admin.{action}", "allow", member="test"))

    Accounts(sessions, SecretBox(Fernet.generate_key())).create_organization(
        "clinic", sector="commercial", record=record("CreateOrganization")
    )
    Registry(sessions).add_member("clinic", "nurse", ["reviewer"], record=record("AddMember"))
    accounts = ConsoleAccounts(sessions, clock, audit)
    accounts.create_user(
        "clinic", "nurse", "Nurse.One", PASSWORD, created_by="test", record=record("CreateUser")
    )
    yield accounts, clock, audit, record
    audit.close()
    sessions.kw["bind"].dispose()


def test_a_user_is_stored_only_with_its_record(console):
    accounts, _clock, _audit, record = console

    def failing(_session, _answer) -> None:
        raise RuntimeError("the record could not be written")

    with pytest.raises(RuntimeError):
        accounts.create_user(
            "clinic", "nurse", "nurse.two", PASSWORD, created_by="test", record=failing
        )
    assert [u["username"] for u in accounts.users()] == ["nurse.one"]
    with pytest.raises(ResourceNotFoundException):
        accounts.create_user(
            "clinic", "ghost", "ghost", PASSWORD, created_by="test", record=record("CreateUser")
        )
    with pytest.raises(InvalidParameterException):
        accounts.create_user(
            "clinic", "nurse", "nurse.three", "short", created_by="t", record=record("CreateUser")
        )


def test_a_session_ends_when_idle_after_its_absolute_limit_or_at_sign_out(console):
    accounts, clock, _audit, _record = console
    token, who = accounts.sign_in("nurse.one", PASSWORD)
    assert (who.organization, who.member, who.roles) == ("clinic", "nurse", ("reviewer",))
    clock.now = START + IDLE - timedelta(seconds=1)
    assert accounts.session(token) is not None  # touched: the idle limit starts again
    clock.now += IDLE - timedelta(seconds=1)
    assert accounts.session(token) is not None
    clock.now += IDLE
    assert accounts.session(token) is None
    assert accounts.session(token) is None  # the expired row is gone
    second, _ = accounts.sign_in("nurse.one", PASSWORD)
    for _ in range(int(ABSOLUTE / (IDLE / 2)) + 1):
        clock.now += IDLE / 2
        alive = accounts.session(second) is not None
    assert not alive  # never idle, but past twelve hours
    third, _ = accounts.sign_in("nurse.one", PASSWORD)
    accounts.sign_out(third)
    assert accounts.session(third) is None
    assert accounts.session("not-a-token") is None


def test_five_wrong_passwords_lock_the_account_and_a_new_password_lifts_it(console):
    accounts, clock, _audit, record = console
    kept, _ = accounts.sign_in("nurse.one", PASSWORD)
    for _ in range(MAX_FAILURES):
        with pytest.raises(SignInRefused, match="Wrong username or password"):
            accounts.sign_in("nurse.one", "wrong password!")
    with pytest.raises(SignInRefused, match="locked"):
        accounts.sign_in("nurse.one", PASSWORD)  # even the right password, while locked
    assert accounts.users()[0]["locked"] is True
    accounts.set_password("nurse.one", "a brand new passphrase", record("SetConsolePassword"))
    assert accounts.session(kept) is None  # a new password ends every session
    token, _ = accounts.sign_in("nurse.one", "a brand new passphrase")
    assert accounts.session(token) is not None
    for _ in range(MAX_FAILURES):
        with pytest.raises(SignInRefused):
            accounts.sign_in("nurse.one", "wrong password!")
    clock.now += LOCK
    assert accounts.sign_in("nurse.one", "a brand new passphrase")[0]  # the lock ran out


def test_every_attempt_is_recorded_without_the_password_and_names_only_real_accounts(console):
    accounts, _clock, audit, _record = console
    accounts.sign_in("nurse.one", PASSWORD)
    with pytest.raises(SignInRefused):
        accounts.sign_in("nurse.one", "wrong password!")
    with pytest.raises(SignInRefused):
        accounts.sign_in("correct horse battery", PASSWORD)  # a password typed as the name
    records = audit.records(operation="Console.SignIn")
    assert [r["decision"] for r in reversed(records)] == ["allow", "deny", "deny"]
    assert [r["resource"] for r in reversed(records)] == [
        "console-user/nurse.one",
        "console-user/nurse.one",
        "console-user",
    ]
    assert all(PASSWORD not in str(r) and "wrong password" not in str(r) for r in records)
    assert records[0]["member"] == "" and records[1]["member"] == "nurse"

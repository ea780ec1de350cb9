"""Appending to the audit log: one chain under concurrency, and exactly one record each.

A record commits with the change it describes (``append(entry, session=s)``) or alone (reads,
denials), on a connection the log keeps for that. On PostgreSQL a record alone is one
autocommitted statement, so these tests also cut that connection, before a statement and
after its commit (a real TCP relay in front of the server drops the reply), and expect every
record exactly once.
"""

from __future__ import annotations

import contextlib
import socket
import threading

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from facegate.audit.log import AuditLog, Entry
from facegate.audit.signing import load_or_create_signer
from facegate.audit.tables import AuditRecord
from facegate.audit.verify import verify_database
from facegate.db.engine import open_database
from tests.conftest import AUDIT_CHECKPOINT_EVERY

EVERY = AUDIT_CHECKPOINT_EVERY  # both kinds of append sign some checkpoints


def entry(n: int, **fields) -> Entry:
    return Entry(
        operation=fields.pop("operation", "DetectFaces"),
        decision=fields.pop("decision", "allow"),
        organization="org-a",
        sector="commercial",
        access_key_id=f"FGKEY{n:015d}",
        roles=("analyst",),
        policies=("BASELINE",),
        result_count=n % 4,
        request_id=f"req-{n}",
        latency_ms=0.5 + n,
        **fields,
    )


def records(sessions: sessionmaker[Session]) -> list[tuple[int, str, str]]:
    with sessions() as s:
        return [
            (r.seq, r.request_id, r.reasons)
            for r in s.scalars(select(AuditRecord).order_by(AuditRecord.seq))
        ]


def test_changes_and_records_alone_from_many_threads_form_one_chain(audit_log):
    """Threads append alone and inside changes (some rolled back) at once: one unbroken chain
    whose records are exactly the ones alone and the changes that committed."""
    sessions, signer, audit = audit_log
    meta = MetaData()
    changes = Table(
        "test_changes", meta, Column("id", Integer, primary_key=True), Column("name", String(40))
    )
    meta.create_all(sessions.kw["bind"])
    per_thread, errors = 40, []

    def alone(t: int) -> None:
        for i in range(per_thread):
            audit.append(entry(1000 * t + i))

    def with_change(t: int) -> None:
        for i in range(per_thread):
            n = 1000 * t + i
            try:
                with sessions.begin() as s:
                    s.execute(insert(changes).values(name=f"req-{n}"))
                    audit.append(entry(n, operation="IndexFaces"), session=s)
                    if i % 4 == 3:
                        raise RuntimeError("the change fails after its record was appended")
            except RuntimeError:
                pass

    def run(work, t: int) -> None:
        try:
            work(t)
        except Exception as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(w, t))
        for t, w in enumerate([alone] * 2 + [with_change] * 2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors

    found = records(sessions)
    assert [seq for seq, _, _ in found] == list(range(1, len(found) + 1))
    with sessions() as s:
        committed = {name for (name,) in s.execute(select(changes.c.name))}
    alone_ids = {f"req-{1000 * t + i}" for t in (0, 1) for i in range(per_thread)}
    recorded = [request_id for _, request_id, _ in found]
    assert len(recorded) == len(set(recorded))  # exactly once each
    assert set(recorded) == alone_ids | committed
    assert len(committed) == 2 * (per_thread - per_thread // 4)
    report = verify_database(sessions, signer.public_pem)
    assert report.ok, report.to_dict()
    assert report.records == len(found) and report.checkpoints_verified == len(found) // EVERY


def test_a_nul_character_is_recorded_as_a_replacement_character(audit_log):
    """PostgreSQL text cannot hold NUL; the record keeps U+FFFD in its place on both databases
    and still verifies (a parameter name sent with a NUL is echoed in a denial's reasons)."""
    sessions, signer, audit = audit_log
    audit.append(entry(1, decision="deny", reasons="Unknown parameter(s) Bad\x00Key"))
    audit.append(entry(2))
    assert records(sessions)[0][2] == "Unknown parameter(s) Bad\ufffdKey"
    assert verify_database(sessions, signer.public_pem).ok


# --- PostgreSQL: the kept connection ---------------------------------------------------------


class Relay:
    """A TCP relay to the PostgreSQL server that can drop the connection after a statement
    was sent, before its reply is passed back: the client cannot know whether it committed."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut_next_reply = threading.Event()
        self.cuts = 0
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.open += [client, server]
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, replies: bool) -> None:
        try:
            while data := source.recv(65536):
                if replies and self.cut_next_reply.is_set():
                    self.cut_next_reply.clear()
                    self.cuts += 1
                    break  # the server answered (it committed): the answer is lost
                sink.sendall(data)
        except OSError:
            pass  # the other direction closed it
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self.listener.close()
        for end in self.open:
            end.close()


@pytest.fixture
def relayed(postgres_databases, tmp_path):
    """A migrated PostgreSQL database, and an AuditLog that reaches it through a Relay."""
    url = postgres_databases()
    direct = open_database(url)
    bound = direct.kw["bind"].url
    relay = Relay(bound.host or "127.0.0.1", bound.port or 5432)
    engine = create_engine(bound.set(host="127.0.0.1", port=relay.port))
    sessions = sessionmaker(engine, expire_on_commit=False)
    signer = load_or_create_signer(tmp_path, None)
    audit = AuditLog(sessions, signer, checkpoint_every=EVERY)
    yield direct, relay, audit, signer
    audit.close()
    relay.close()
    engine.dispose()
    direct.kw["bind"].dispose()


def test_a_record_whose_reply_was_lost_after_commit_is_not_written_twice(relayed):
    direct, relay, audit, signer = relayed
    first = audit.append(entry(1))
    relay.cut_next_reply.set()
    second = audit.append(entry(2))  # committed, its answer lost: found, not written again
    third = audit.append(entry(3))
    assert relay.cuts == 1
    assert (first, second, third) == (1, 2, 3)
    assert [request_id for _, request_id, _ in records(direct)] == ["req-1", "req-2", "req-3"]
    assert verify_database(direct, signer.public_pem).ok


def test_a_connection_closed_by_the_server_is_replaced_and_nothing_is_lost(relayed):
    direct, _, audit, signer = relayed
    audit.append(entry(1))
    with direct.kw["bind"].connect() as db:
        ended = db.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND state = 'idle' AND backend_type = 'client backend'"
            )
        ).all()
    assert ended  # the log's kept connection was among them
    assert audit.append(entry(2)) == 2
    assert [request_id for _, request_id, _ in records(direct)] == ["req-1", "req-2"]
    assert verify_database(direct, signer.public_pem).ok


def test_a_refused_statement_changes_nothing_and_the_log_goes_on(relayed):
    direct, _, audit, signer = relayed
    audit.append(entry(1))
    with pytest.raises(DBAPIError):  # longer than the column: PostgreSQL refuses the record
        audit.append(entry(2, operation="X" * 200))
    assert audit.append(entry(3)) == 2
    assert [request_id for _, request_id, _ in records(direct)] == ["req-1", "req-3"]
    assert verify_database(direct, signer.public_pem).ok


def test_the_log_is_written_through_one_kept_connection(relayed):
    """Records alone reuse one connection (no pool check-out, no ping per record)."""
    direct, _, audit, _ = relayed
    for n in range(EVERY - 5):  # no checkpoint: signing one uses a pooled session
        audit.append(entry(n))
    with direct.kw["bind"].connect() as db:
        connections = db.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
        ).scalar_one()
    assert connections == 1

"""Records that are alone in their transaction, written on a connection kept for them.

Reads, denials and failures change nothing, so their record is the whole transaction. Such a
record skips the session, the pool check-out and (PostgreSQL) the liveness ping that a pooled
transaction costs on every request:

- PostgreSQL: :data:`facegate.audit.chain.APPEND_PG` in autocommit mode, one round trip and
  one commit (durable before the call returns, as any commit);
- SQLite: ``BEGIN IMMEDIATE``, the head, the record, ``COMMIT`` on the sqlite3 connection
  (:func:`facegate.audit.chain.sqlite_append_alone`).

The connection is opened through the engine (its URL, arguments and connect events: SQLite's
WAL and full synchronous commits), taken out of the pool and kept; appends take turns on it,
as they would on the head anyway.

A PostgreSQL connection lost during an append leaves it unknown whether the record committed.
The writer reconnects, looks for the record (by its time, which is indexed, and its hash) and
writes it only if it is not there: each record is written exactly once.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, StatementError

from facegate.audit import chain


class StandaloneWriter:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        if not self.postgres and engine.dialect.name != "sqlite":
            raise ValueError(f"no standalone audit writer for {engine.dialect.name}")
        self._processors = None if self.postgres else chain.sqlite_processors(engine.dialect)
        self._lock = threading.Lock()
        self._connection: Any = None  # the driver's connection (psycopg or sqlite3)
        self._pid = 0

    def append(self, values: dict[str, Any]) -> tuple[int, str]:
        """Write a record with ``values`` (its hashed fields), committed. Returns (seq, hash)."""
        with self._lock:
            driver = self._driver()
            if not self.postgres:
                try:
                    assert self._processors is not None
                    return chain.sqlite_append_alone(driver, self._processors, values)
                except self.engine.dialect.loaded_dbapi.Error as exc:
                    raise self._wrapped(exc, values) from exc
            params = chain.pg_parameters(values)
            try:
                row = driver.execute(chain.APPEND_PG, params).fetchone()
            except self.engine.dialect.loaded_dbapi.Error as exc:
                if not (driver.closed or driver.broken):
                    raise self._wrapped(exc, params) from exc  # the statement failed, not the link
                self._discard()
                row = self._after_lost_connection(params)
            return chain.pg_appended(row, params)

    def _after_lost_connection(self, params: dict[str, Any]) -> Any:
        """On a new connection: the record if the lost one committed it, else written now."""
        driver = self._driver()
        try:
            for found in driver.execute(chain.FIND_PG, {"at": params["at"]}).fetchall():
                if chain.pg_written(found, params):
                    return found
            return driver.execute(chain.APPEND_PG, params).fetchone()
        except self.engine.dialect.loaded_dbapi.Error as exc:
            if driver.closed or driver.broken:
                self._discard()
            raise self._wrapped(exc, params) from exc

    def _driver(self) -> Any:
        """The kept connection in autocommit mode, opened on first use and after a loss."""
        if self._connection is not None and self._pid != os.getpid():
            self._connection = None  # inherited by a forked process: the parent's; left alone
        if self._connection is None:
            proxy = self.engine.raw_connection()
            driver: Any = proxy.driver_connection
            proxy.detach()  # it never returns to the pool: closing it closes it
            try:
                if self.postgres:
                    driver.autocommit = True
                else:
                    driver.isolation_level = None  # transactions are begun explicitly
            except BaseException:
                driver.close()
                raise
            self._connection, self._pid = driver, os.getpid()
        return self._connection

    def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # already broken: nothing to close cleanly
                connection.close()

    def _wrapped(self, exc: Exception, params: dict[str, Any]) -> StatementError:
        """The driver's error as SQLAlchemy raises it elsewhere (callers catch those)."""
        return DBAPIError.instance(
            chain.APPEND_PG if self.postgres else "audit append (SQLite)",
            params,
            exc,
            self.engine.dialect.loaded_dbapi.Error,
            dialect=self.engine.dialect,
        )

    def close(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                self._discard()
            self._connection = None

"""The databases bench/audit.py measures on: SQLite files in the work folder, and fresh
PostgreSQL databases made on a server and dropped at the end."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from facegate.db.engine import open_database

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@dataclass
class Backend:
    """One storage backend: how to make a fresh database, and what to clean up."""

    name: str  # sqlite, postgresql
    workdir: Path
    admin: Engine | None = None
    made: list[str] = field(default_factory=list)
    engines: list[Engine] = field(default_factory=list)
    server_version: str = ""

    def fresh(self, label: str) -> sessionmaker[Session]:
        """A new, migrated database (open_database, as the service opens it)."""
        if self.name == "sqlite":
            url = f"sqlite:///{self.workdir / f'{label}.db'}"
        else:
            assert self.admin is not None
            name = f"facegate_bench_audit_{uuid.uuid4().hex[:10]}_{label}"
            with self.admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            self.made.append(name)
            url = self.admin.url.set(database=name).render_as_string(hide_password=False)
        sessions = open_database(url)
        self.engines.append(sessions.kw["bind"])
        return sessions

    def close(self) -> None:
        for engine in self.engines:
            engine.dispose()
        if self.admin is not None:
            with self.admin.connect() as connection:
                for name in self.made:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            self.admin.dispose()


def postgres_backend(url: str, workdir: Path) -> tuple[Backend | None, str]:
    """A PostgreSQL backend, or None and why not."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            version = connection.execute(text("SHOW server_version")).scalar_one()
            fsync = connection.execute(text("SHOW fsync")).scalar_one()
            commit = connection.execute(text("SHOW synchronous_commit")).scalar_one()
    except OperationalError as exc:
        admin.dispose()
        reason = str(exc).splitlines()[0]
        return None, f"PostgreSQL unreachable at {url}: {reason}"
    backend = Backend("postgresql", workdir, admin=admin)
    backend.server_version = f"{version} (fsync={fsync}, synchronous_commit={commit})"
    return backend, ""

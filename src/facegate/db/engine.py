"""Database connections: SQLite (WAL) in the data directory by default, PostgreSQL by URL.

``open_database`` creates the engine and brings the schema to the newest Alembic revision, so
a fresh data directory and an upgraded one both start at the same schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from facegate.errors import InvalidParameterException


def database_url(data_dir: Path, url: str | None) -> str:
    """The configured URL, or a SQLite file in the data directory."""
    if url:
        return url
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(data_dir / 'facegate.db').resolve()}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged write survives a crash
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


NUL_REFUSED = "Text may not contain the NUL character (U+0000)."


def _texts(parameters: Any) -> Iterator[str]:
    """The strings among a statement's parameters (one set, or many for executemany)."""
    sets = parameters if isinstance(parameters, list) else [parameters]
    for one in sets:
        values = one.values() if isinstance(one, dict) else one or ()
        for value in values:
            if isinstance(value, str):
                yield value


def _refuse_nul(
    _conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any, _many: bool
) -> None:
    """PostgreSQL text cannot hold NUL, and a NUL from a client would fail there as a server
    error: every database refuses it before the statement runs, as a parameter error of the
    request (SQLite would store it; the same input must not be valid on one and not the
    other). Audit records never reach this: they replace NUL with U+FFFD first."""
    if any("\x00" in text for text in _texts(parameters)):
        raise InvalidParameterException(NUL_REFUSED)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)
    event.listen(engine, "before_cursor_execute", _refuse_nul)
    return engine


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("facegate.db") / "migrations")
    )
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest revision (a no-op when it is current)."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def open_database(url: str) -> sessionmaker[Session]:
    """An engine on ``url`` with the schema at the newest revision, and its session factory.
    Every table is registered first (:mod:`facegate.db.all_tables`)."""
    from facegate.db import all_tables  # noqa: F401  (registers the tables on Base.metadata)

    engine = make_engine(url)
    migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)

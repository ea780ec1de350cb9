"""The database layer: the declarative base and column types every table module uses, the
engine and sessions (SQLite by default, PostgreSQL by URL), the Alembic migrations, and the
one module that registers every table (:mod:`facegate.db.all_tables`).

Table modules (``facegate.<package>.tables``) import only this package, ``facegate.errors``
and SQLAlchemy, so any layer may read any package's tables (one schema, one history).
"""

from facegate.db.base import Base, RowId, one_of
from facegate.db.types import UTCDateTime, aware, utcnow

__all__ = ["Base", "RowId", "UTCDateTime", "aware", "one_of", "utcnow"]

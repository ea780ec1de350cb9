"""What every table module shares: the declarative base, the row-id type and CHECK
constraints for enumerations (the UTC datetime column type is in :mod:`facegate.db.types`)."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Integer
from sqlalchemy.orm import DeclarativeBase

# BigInteger on PostgreSQL, INTEGER (the rowid alias AUTOINCREMENT needs) on SQLite.
RowId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


def one_of(column: str, values: tuple[str, ...], name: str) -> CheckConstraint:
    """A CHECK constraint that ``column`` holds one of ``values``."""
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=name)

"""How the console's pages write values for people: instants in UTC words."""

from __future__ import annotations

from datetime import UTC, datetime


def when(moment: datetime | str | None, seconds: bool = False) -> str:
    """An instant as '2026-05-01 14:03 UTC' (with seconds if asked; '' for none)."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:  # SQLite keeps UTC without its offset
        moment = moment.replace(tzinfo=UTC)
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M{':%S' if seconds else ''}} UTC"


def when_seconds(moment: datetime | str | None) -> str:
    """An instant as '2026-05-01 14:03:27 UTC' (records, receipts, reports, faces)."""
    return when(moment, seconds=True)

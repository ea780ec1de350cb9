"""every face has a deletion deadline

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

Faces stored before migration 0003 have no deletion deadline, so retention never purged
them. Each face without one gets the rule of facegate.gallery.retention: the earlier of its
use case's end and its last interaction (or enrollment) plus the use case's retention period,
3 years without a use case. Data only: the downgrade leaves the deadlines in place.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BATCH = 10_000
DEFAULT_RETENTION_YEARS = 3.0  # as facegate.gallery.retention (kept here: a migration is frozen)
DAYS_PER_YEAR = 365.25

faces = sa.table(
    "faces",
    sa.column("row_id", sa.BigInteger()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("last_interaction", sa.DateTime(timezone=True)),
    sa.column("delete_by", sa.DateTime(timezone=True)),
    sa.column("use_case_id", sa.Integer()),
)
use_cases = sa.table(
    "use_cases",
    sa.column("id", sa.Integer()),
    sa.column("expires_at", sa.DateTime(timezone=True)),
    sa.column("retention_years", sa.Float()),
)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def upgrade() -> None:
    bind = op.get_bind()
    after = 0
    while True:
        rows = bind.execute(
            sa.select(
                faces.c.row_id,
                faces.c.created_at,
                faces.c.last_interaction,
                use_cases.c.expires_at,
                use_cases.c.retention_years,
            )
            .select_from(faces.outerjoin(use_cases, faces.c.use_case_id == use_cases.c.id))
            .where(faces.c.delete_by.is_(None), faces.c.row_id > after)
            .order_by(faces.c.row_id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        deadlines = []
        for row_id, created, last, end, years in rows:
            since = _aware(last or created)
            by_age = since + timedelta(days=(years or DEFAULT_RETENTION_YEARS) * DAYS_PER_YEAR)
            deadlines.append({"b_row": row_id, "b_by": min(by_age, _aware(end)) if end else by_age})
        bind.execute(
            faces.update()
            .where(faces.c.row_id == sa.bindparam("b_row"))
            .values(delete_by=sa.bindparam("b_by")),
            deadlines,
        )
        after = rows[-1][0]


def downgrade() -> None:
    pass  # the deadlines stay: removing them would stop retention for those faces again

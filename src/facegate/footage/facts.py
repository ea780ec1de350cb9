"""What FOOTAGE-CONSENT decides a share on, and counting a shared video against the approval.

The facts are read for the caller only: whether they own the camera, their own decision for
it (another owner's is never read), whether the request is open and its window. Read inside
the share's transaction, the rows are locked (PostgreSQL) so that a revocation or a closing
cannot slip in before the share commits (:mod:`facegate.footage.sharing`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, exists, select, update
from sqlalchemy.orm import Session

from facegate.db import aware
from facegate.errors import ConflictException
from facegate.footage.core import FootageCore
from facegate.footage.tables import Camera, FootageConsent, FootageRequest
from facegate.footage.views import Viewer
from facegate.policy.point import FootageFacts
from facegate.policy.registry import Principal


def share_facts(
    s: Session,
    caller: Principal,
    request_id: int,
    camera_id: int,
    window: tuple[datetime, datetime],
    *,
    lock: bool,
) -> tuple[FootageFacts, int | None]:
    """The facts of sharing footage of ``camera_id`` recorded over ``window`` (start, end)
    for request ``request_id``, and the agency's organization id (None when the caller has
    no camera in the request: the request is not theirs to see)."""
    start, end = window
    viewer = Viewer.of(caller)
    request_query = select(FootageRequest).where(FootageRequest.id == request_id)
    r = s.scalar(request_query.with_for_update() if lock else request_query)
    visible = r is not None and s.scalar(
        select(
            exists().where(
                FootageConsent.request_id == request_id,
                FootageConsent.camera_id == Camera.id,
                viewer.cameras(),
            )
        )
    )
    if r is None or not visible:
        return FootageFacts(False, "none", False, start, start, start, end), None
    camera = s.get(Camera, camera_id)
    owner = (
        camera is not None
        and camera.organization_id == caller.organization_id
        and viewer.member_id is not None
        and camera.owner_id == viewer.member_id
    )
    consent = "none"
    if owner:  # another owner's decision is not read for this caller
        consent_query = select(FootageConsent).where(
            FootageConsent.request_id == request_id, FootageConsent.camera_id == camera_id
        )
        row = s.scalar(consent_query.with_for_update() if lock else consent_query)
        consent = row.status if row is not None else "none"
    facts = FootageFacts(
        owner=owner,
        consent=consent,
        request_open=r.status == "open",
        window_start=aware(r.window_start),
        window_end=aware(r.window_end),
        recorded_from=start,
        recorded_to=end,
    )
    return facts, r.organization_id


class ShareOperations(FootageCore):
    def facts(
        self,
        caller: Principal,
        request_id: int,
        camera_id: int,
        recorded_from: datetime,
        recorded_to: datetime | None = None,
        *,
        session: Session | None = None,
    ) -> tuple[FootageFacts, int | None]:
        """What FOOTAGE-CONSENT decides a share on, and the agency's organization id (None
        when the caller has no camera in the request: the request is not theirs to see).

        In ``session`` (the share's own transaction), the rows are read locked (PostgreSQL)
        so that a revocation or a closing cannot slip in before the share commits.
        """
        start = aware(recorded_from)
        window = (start, aware(recorded_to) if recorded_to is not None else start)
        if session is None:
            with self.sessions() as s:
                return share_facts(s, caller, request_id, camera_id, window, lock=False)
        return share_facts(session, caller, request_id, camera_id, window, lock=True)

    @staticmethod
    def claim(s: Session, request_id: int, camera_id: int) -> None:
        """Count a shared video against the approval, in the share's transaction: from now on
        the approval is used and cannot be revoked."""
        counted = cast(
            CursorResult[Any],
            s.execute(
                update(FootageConsent)
                .where(
                    FootageConsent.request_id == request_id,
                    FootageConsent.camera_id == camera_id,
                    FootageConsent.status == "approved",
                )
                .values(shared=FootageConsent.shared + 1)
                .execution_options(synchronize_session=False)
            ),
        ).rowcount
        if counted != 1:
            raise ConflictException("The approval changed while the footage was received.")

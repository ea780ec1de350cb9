"""Owners' decisions on a footage request, for each of their cameras in it.

An owner approves or declines a pending camera, approves again after declining or revoking,
and revokes an approval until footage of that camera has been shared for the request: once
shared, the approval is used. Nothing is decided for a closed request. A decision is all or
nothing: any camera it may not apply to refuses it (``ConflictException``), and a camera whose
state changed meanwhile (footage shared while deciding) rolls it back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import CursorResult, select, update

from facegate.audit.log import Record
from facegate.errors import (
    ConflictException,
    InvalidParameterException,
    ResourceNotFoundException,
)
from facegate.footage.core import FootageCore
from facegate.footage.requests import community
from facegate.footage.tables import Camera, FootageConsent, FootageRequest
from facegate.footage.views import Viewer
from facegate.policy.registry import Principal

# A decision's allowed starting states and its result.
TRANSITIONS = {
    "approve": (("pending", "declined", "revoked"), "approved"),
    "decline": (("pending",), "declined"),
    "revoke": (("approved",), "revoked"),
}


class DecisionOperations(FootageCore):
    def decide(
        self,
        caller: Principal,
        request_id: int,
        decision: str,
        camera_ids: Iterable[int] | None = None,
        *,
        record: Record,
    ) -> dict[str, Any]:
        """Approve, decline or revoke the request for the caller's own cameras in it (all of
        those whose state allows it, or the ones named). All or nothing."""
        decision = (decision or "").strip().lower()
        if decision not in TRANSITIONS:
            raise InvalidParameterException("The Decision is APPROVE, DECLINE or REVOKE.")
        before, after = TRANSITIONS[decision]
        viewer = Viewer.of(caller)
        now = self.clock()
        with self.sessions.begin() as s:
            r = s.get(FootageRequest, request_id)
            own = {}
            if r is not None and viewer.member_id is not None:
                own = {
                    consent.camera_id: consent
                    for consent in s.scalars(
                        select(FootageConsent)
                        .join(Camera, FootageConsent.camera_id == Camera.id)
                        .where(
                            FootageConsent.request_id == request_id,
                            Camera.organization_id == caller.organization_id,
                            Camera.owner_id == viewer.member_id,
                        )
                    )
                }
            if r is None or not own:
                raise ResourceNotFoundException(
                    f"No footage request {request_id} for your cameras."
                )
            if r.status != "open":
                raise ConflictException(f"Footage request {request_id} is closed.")
            chosen = chosen_cameras(own, camera_ids, before, decision)
            unchanged = [
                FootageConsent.request_id == request_id,
                FootageConsent.camera_id.in_(chosen),
                FootageConsent.status.in_(before),
            ]
            if decision == "revoke":  # until footage is shared: then the approval is used
                unchanged.append(FootageConsent.shared == 0)
            changed = cast(
                CursorResult[Any],
                s.execute(
                    update(FootageConsent)
                    .where(*unchanged)
                    .values(status=after, decided_at=now, decided_by=caller.holder)
                    .execution_options(synchronize_session=False)
                ),
            ).rowcount
            if changed != len(chosen):  # footage was shared (or decided) meanwhile
                raise ConflictException(
                    "A camera's state changed while deciding (footage was shared for it); "
                    "nothing was changed. Look at the request again."
                )
            s.expire_all()
            out = community(s, r, viewer)
            out["Decision"] = after
            out["DecidedCameraIds"] = chosen
            record(s, out)
            return out


def chosen_cameras(
    own: dict[int, FootageConsent],
    camera_ids: Iterable[int] | None,
    before: tuple[str, ...],
    decision: str,
) -> list[int]:
    """The caller's cameras the decision applies to: all of ``own`` it may apply to, or
    those named (each of which it must apply to)."""

    def allowed(c: FootageConsent) -> bool:
        return c.status in before and not (decision == "revoke" and c.shared)

    if camera_ids is None:
        chosen = [cid for cid, c in sorted(own.items()) if allowed(c)]
        if not chosen:
            raise ConflictException(
                f"None of your cameras in this request can be {decision}d: "
                + ", ".join(f"{cid} is {c.status}" for cid, c in sorted(own.items()))
                + (
                    ". An approval with shared footage is used and cannot be revoked."
                    if decision == "revoke"
                    else "."
                )
            )
        return chosen
    chosen = list(dict.fromkeys(int(c) for c in camera_ids))
    if not chosen:
        raise InvalidParameterException("CameraIds, when given, names at least one camera.")
    for cid in chosen:
        c = own.get(cid)
        if c is None:
            raise ResourceNotFoundException(f"Camera {cid} is not yours in this request.")
        if c.shared and decision == "revoke":
            raise ConflictException(
                f"Camera {cid}'s approval is used: footage was shared for this request, "
                "so it can no longer be revoked."
            )
        if not allowed(c):
            raise ConflictException(f"Camera {cid} is {c.status}; it cannot be {decision}d.")
    return chosen

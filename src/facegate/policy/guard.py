"""Decide, run, record: the one sequence every policy-guarded action outside the face
operations follows (review actions, audit reads, self-service use cases)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from facegate.audit.log import Recorder, entry_for
from facegate.errors import FacegateError
from facegate.policy.point import Decision, FootageFacts, Question, Resource
from facegate.policy.registry import Principal

if TYPE_CHECKING:
    from facegate.service import Services


def guarded(
    services: Services,
    caller: Principal,
    operation: str,
    target: Resource,
    work: Callable[[Recorder], Any],
    *,
    request_id: str = "",
    denied: Callable[[Decision], FacegateError] | None = None,
    footage: FootageFacts | None = None,
    **record: Any,
) -> Any:
    """Ask the decision point about ``operation`` on ``target``, run ``work(recorder)`` (a
    change calls the recorder inside its transaction; ``work`` may also fill
    ``recorder.entry``) and leave exactly one record of the request. ``denied`` turns a
    denial into the error answered (default: the policy's own); ``record`` sets fields of the
    record (``resource``, ``review_id``); ``footage`` what FOOTAGE-CONSENT decides a share on.
    Call it from a thread."""
    entry = entry_for(caller, operation, request_id=request_id, **record)
    recorder = Recorder(services.audit, entry)
    failed = False
    try:
        decision = services.point.decide(caller, Question(operation, target, footage=footage))
        entry.policy_version, entry.policies = decision.version, decision.policies
        if not decision.allowed:
            assert decision.error is not None
            raise denied(decision) if denied is not None else decision.error
        entry.decision = "allow"
        return work(recorder)
    except FacegateError as error:
        failed = True
        if entry.decision == "allow":
            entry.decision = "error"
        entry.error_type, entry.reasons = error.type_name, error.message
        raise
    finally:
        recorder.finish(failed and recorder.done)

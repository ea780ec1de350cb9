"""Account-level routes under the policies: decide, run, record (one helper for them all)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request

from facegate.api.rest.bodies import services_of
from facegate.audit.log import Recorder, entry_for
from facegate.errors import FacegateError
from facegate.policy.point import Question, Resource
from facegate.policy.registry import Principal


def guarded(
    request: Request,
    caller: Principal,
    operation: str,
    work: Callable[[Recorder], Any],
    resource: str = "account",
) -> Any:
    """Ask the decision point about ``operation`` on the caller's account, run
    ``work(record)`` (a change calls ``record`` inside its transaction) and make sure the
    request leaves exactly one record. Call it from a thread."""
    services = services_of(request)
    entry = entry_for(caller, operation, resource=resource, request_id=request.state.request_id)
    recorder = Recorder(services.audit, entry)
    failed = False
    try:
        question = Question(
            operation, Resource("Account", resource, caller.organization_id, caller.organization)
        )
        decision = services.point.decide(caller, question)
        entry.policy_version, entry.policies = decision.version, decision.policies
        if not decision.allowed:
            assert decision.error is not None
            raise decision.error
        entry.decision = "allow"
        return work(recorder)
    except FacegateError as error:
        failed = True
        entry.decision = "error" if entry.decision == "allow" else "deny"
        entry.error_type, entry.reasons = error.type_name, error.message
        raise
    finally:
        recorder.finish(failed and recorder.done)

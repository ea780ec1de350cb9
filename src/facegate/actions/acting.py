"""Decide, run, record: the one skeleton every door's actions follow.

Every request and every administrative or maintenance action leaves exactly one decision
record (two when a change committed and something failed after it). :class:`Acting` is the
context manager that guarantees it, for the AWS JSON and REST face operations
(``api.governed``), the console and the REST review, audit and use-case routes
(:func:`guarded`), the operator's administration (``actions.administration``, REST, console
and CLI) and the server's maintenance (``actions.maintenance``)::

    with Acting(audit, entry) as act:          # async with, on the event loop
        decision = admit(act.entry, point.decide(caller, question))  # raises a denial
        return work(act.recorder)              # a change calls the recorder in its transaction

On the way out, a :class:`~facegate.errors.FacegateError` marks the record (an allowed
request that then failed is an ``error``, a denial stays ``deny``) with the error's type and
message; any other exception is an ``error`` of type ``InternalServerError``. The record is
written by :meth:`Recorder.finish` unless the change already wrote it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol

from facegate.audit.log import AuditLog, Entry, Recorder, entry_for
from facegate.errors import FacegateError
from facegate.policy.point import Decision, FootageFacts, Question, Resource
from facegate.policy.registry import Principal


class Decides(Protocol):
    """The decision point, as far as an action needs it."""

    def decide(self, principal: Principal, question: Question) -> Decision: ...


class Governed(Protocol):
    """What every action needs: the decision point and the audit log."""

    @property
    def point(self) -> Decides: ...

    @property
    def audit(self) -> AuditLog: ...


class Acting:
    """One action's record, from its start to its one write (see the module docstring)."""

    def __init__(
        self,
        audit: AuditLog,
        entry: Entry,
        *,
        fill: Callable[[Entry, dict[str, Any]], None] | None = None,
    ):
        self.entry = entry
        self.recorder = Recorder(audit, entry, fill=fill)

    def _failed(self, error: BaseException | None) -> bool:
        """Mark the record for how the action ended; True if it failed."""
        entry = self.entry
        if isinstance(error, FacegateError):
            if entry.decision == "allow":  # allowed, then failed (bad image, missing face, ...)
                entry.decision = "error"
            entry.error_type, entry.reasons = error.type_name, error.message
            return True
        if isinstance(error, Exception):
            entry.decision = "error"
            entry.error_type, entry.reasons = "InternalServerError", type(error).__name__
            return True
        return False

    def __enter__(self) -> Acting:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        failed = self._failed(error)
        self.recorder.finish(failed and self.recorder.done)

    async def __aenter__(self) -> Acting:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        failed = self._failed(error)
        await asyncio.to_thread(self.recorder.finish, failed and self.recorder.done)


def admit(
    entry: Entry,
    decision: Decision,
    denied: Callable[[Decision], FacegateError] | None = None,
) -> Decision:
    """Note ``decision`` on the record; raise its denial (or ``denied(decision)``), else
    mark the record allowed."""
    entry.policy_version, entry.policies = decision.version, decision.policies
    if not decision.allowed:
        assert decision.error is not None
        raise denied(decision) if denied is not None else decision.error
    entry.decision = "allow"
    return decision


def guarded(
    services: Governed,
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
    with Acting(services.audit, entry) as act:
        question = Question(operation, target, footage=footage)
        admit(entry, services.point.decide(caller, question), denied)
        return work(act.recorder)

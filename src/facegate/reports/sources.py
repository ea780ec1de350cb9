"""What the reports read, typed: the parts of the running service they use, and no more.

:class:`Sources` is satisfied by :class:`facegate.service.Services` (the composition root
hands itself to the reports), but the reports depend only on this protocol, so they sit below
the service, the console and the command line that call them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from facegate.audit.signing import Signer
from facegate.config import Settings
from facegate.policy.engine import PolicySet
from facegate.policy.point import Question
from facegate.policy.registry import Principal


class PolicySource(Protocol):
    """The decision point: the policy set in force, its clock, and the questions it answers."""

    @property
    def policies(self) -> PolicySet: ...

    @property
    def version(self) -> str: ...

    @property
    def clock(self) -> Callable[[], datetime]: ...

    def explain(self, p: Principal, q: Question, at: datetime | None = None) -> dict[str, Any]: ...

    def floor_for(self, purpose: str) -> float: ...


class RegistrySource(Protocol):
    """Organizations, use cases, purposes and exemptions."""

    @property
    def sessions(self) -> sessionmaker[Session]: ...

    @property
    def purposes(self) -> dict[str, tuple[str, ...]]: ...

    def use_case(self, use_case_id: int) -> dict[str, Any]: ...

    def exemptions(self, organization: str | None = None) -> list[dict[str, Any]]: ...


class AuditSource(Protocol):
    """The audit log's database and the key that signs its checkpoints."""

    @property
    def sessions(self) -> sessionmaker[Session]: ...

    @property
    def signer(self) -> Signer | None: ...


class FairnessSource(Protocol):
    """The demographic audits on record (FAIRNESS-GATE)."""

    def latest(self) -> dict[str, Any] | None: ...


class Sources(Protocol):
    """Everything a report reads."""

    @property
    def settings(self) -> Settings: ...

    @property
    def point(self) -> PolicySource: ...

    @property
    def registry(self) -> RegistrySource: ...

    @property
    def audit(self) -> AuditSource: ...

    @property
    def fairness(self) -> FairnessSource: ...

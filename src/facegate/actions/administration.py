"""Administrative actions, shared by the CLI and the admin REST API, each one recorded.

Every action is a method taking who acts (``actor``: an operator key's holder, or
``cli:<user>`` on the server's machine) and writes one decision record naming the action
and what changed (never a secret).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from facegate.actions.acting import Acting, admit
from facegate.audit.log import AuditLog, Entry, Record, Recorder, entry_for
from facegate.config import Settings
from facegate.errors import InvalidParameterException
from facegate.policy.accounts import Accounts
from facegate.policy.point import ACCOUNT_OPERATIONS, DecisionPoint, Inputs, Question, Resource
from facegate.policy.registry import Principal, Registry, check_sector

REVIEW_OPERATIONS = ("GetReview", "DecideReview", "GetReviewResult")


class ConsoleUsers(Protocol):
    """The console's sign-ins, as the operator administers them (``policy.console_users``)."""

    def create_user(
        self,
        organization: str,
        member: str,
        username: str,
        password: str,
        *,
        created_by: str,
        record: Record,
    ) -> dict[str, Any]: ...

    def set_password(self, username: str, password: str, record: Record) -> None: ...

    def users(self, organization: str | None = None) -> list[dict[str, Any]]: ...


class Administered(Protocol):
    """What the operator's administration acts on."""

    @property
    def settings(self) -> Settings: ...
    @property
    def accounts(self) -> Accounts: ...
    @property
    def registry(self) -> Registry: ...
    @property
    def point(self) -> DecisionPoint: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def console(self) -> ConsoleUsers: ...


def parse_instant(text: str, what: str = "The date") -> datetime:
    """An ISO 8601 date or date-time (UTC when no offset is given)."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise InvalidParameterException(
            f"{what} must be an ISO 8601 date or date and time, got {text!r}."
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_optional_instant(text: str | None, what: str) -> datetime | None:
    """:func:`parse_instant` of a filter that may be left out (None or empty: no bound)."""
    return parse_instant(text, what) if text else None


def authorized(
    services: Administered,
    caller: Principal,
    actor: str,
    *,
    resource: str = "",
    request_id: str = "",
) -> Administration:
    """``caller``'s Administration (acting as ``actor``) if the policies let it administer;
    else the denial is recorded and raised (the admin API, the operator's console pages).
    An allowed check leaves no record of its own: each action records itself."""
    question = Question(
        "Administer", Resource("Account", "account", caller.organization_id, caller.organization)
    )
    decision = services.point.decide(caller, question)
    if not decision.allowed:
        entry = entry_for(caller, "Administer", resource=resource, request_id=request_id)
        with Acting(services.audit, entry):
            admit(entry, decision)
    return Administration(services, actor, caller, request_id=request_id)


class Administration:
    def __init__(
        self,
        services: Administered,
        actor: str,
        principal: Principal | None = None,
        *,
        request_id: str = "",
    ):
        self.services = services
        self.actor = actor
        self.principal = principal
        self.request_id = request_id  # of the API or console request it acts for, if any

    def _do(self, action: str, detail: dict[str, Any], fn: Callable[[Recorder], Any]) -> Any:
        """Run ``fn(record)``; the change and its record commit together."""
        entry = Entry(
            operation=f"Admin.{action}",
            decision="allow",
            member=self.actor,
            request_id=self.request_id,
        )
        if self.principal is not None:
            p = self.principal
            entry.organization, entry.sector = p.organization, p.sector
            entry.access_key_id, entry.roles = p.access_key_id, p.roles
        entry.policy_version = self.services.point.version
        entry.detail = detail
        with Acting(self.services.audit, entry) as act:
            return fn(act.recorder)

    # --- organizations and members ---------------------------------------------------------

    def create_organization(self, name: str, sector: str) -> dict[str, Any]:
        check_sector(sector)
        self._do(
            "CreateOrganization",
            {"organization": name, "sector": sector},
            lambda r: self.services.accounts.create_organization(name, sector=sector, record=r),
        )
        return {"organization": name, "sector": sector}

    def set_sector(self, name: str, sector: str) -> dict[str, Any]:
        return self._do(
            "SetSector",
            {"organization": name, "sector": sector},
            lambda r: self.services.registry.set_sector(name, sector, record=r),
        )

    def _read(self, action: str, detail: dict[str, Any], fn: Callable[[], Any]) -> Any:
        """Run a read and record it (reads of governance data are accountable too)."""
        return self._do(action, detail, lambda _record: fn())

    def organizations(self) -> list[dict[str, Any]]:
        return self._read("ListOrganizations", {}, self.services.accounts.organizations)

    def add_member(self, organization: str, name: str, roles: list[str]) -> dict[str, Any]:
        return self._do(
            "AddMember",
            {"organization": organization, "member": name, "roles": roles},
            lambda r: self.services.registry.add_member(organization, name, roles, record=r),
        )

    def members(self, organization: str) -> list[dict[str, Any]]:
        return self._read(
            "ListMembers",
            {"organization": organization},
            lambda: self.services.registry.members(organization),
        )

    # --- console sign-ins --------------------------------------------------------------------

    def create_console_user(
        self, organization: str, member: str, username: str, password: str
    ) -> dict[str, Any]:
        """A console sign-in (Argon2-hashed password) for an existing member."""
        return self._do(
            "CreateConsoleUser",
            {"organization": organization, "member": member, "username": username},
            lambda r: self.services.console.create_user(
                organization, member, username, password, created_by=self.actor, record=r
            ),
        )

    def set_console_password(self, username: str, password: str) -> dict[str, Any]:
        """A new password; the user's sessions end and a lock-out is lifted."""
        self._do(
            "SetConsolePassword",
            {"username": username},
            lambda r: self.services.console.set_password(username, password, record=r),
        )
        return {"username": username, "password": "changed", "sessions": "ended"}

    def console_users(self, organization: str | None = None) -> list[dict[str, Any]]:
        return self._read(
            "ListConsoleUsers",
            {"organization": organization or ""},
            lambda: self.services.console.users(organization),
        )

    # --- use cases -------------------------------------------------------------------------

    def register_use_case(self, organization: str, **fields: Any) -> dict[str, Any]:
        fields.setdefault("registered_by", self.actor)
        detail = {"organization": organization, **{k: str(v) for k, v in fields.items()}}
        return self._do(
            "RegisterUseCase",
            detail,
            lambda r: self.services.registry.register_use_case(organization, **fields, record=r),
        )

    def decide_use_case(self, use_case_id: int, decision: str, reason: str) -> dict[str, Any]:
        return self._do(
            f"{decision.capitalize()}UseCase",
            {"use_case": use_case_id, "decision": decision, "reason": reason},
            lambda r: self.services.registry.decide_use_case(
                use_case_id, decision, self.actor, reason, record=r
            ),
        )

    def use_cases(self, organization: str | None = None) -> list[dict[str, Any]]:
        return self._read(
            "ListUseCases",
            {"organization": organization},
            lambda: self.services.registry.use_cases(organization),
        )

    # --- exemptions ------------------------------------------------------------------------

    def grant_exemption(
        self, organization: str, purpose: str, reason: str, expires: datetime
    ) -> dict[str, Any]:
        return self._do(
            "GrantExemption",
            {
                "organization": organization,
                "purpose": purpose,
                "reason": reason,
                "expires": expires.isoformat(),
            },
            lambda r: self.services.registry.grant_exemption(
                organization, purpose, reason, expires, self.actor, record=r
            ),
        )

    def revoke_exemption(self, exemption_id: int, reason: str) -> dict[str, Any]:
        return self._do(
            "RevokeExemption",
            {"exemption": exemption_id, "reason": reason},
            lambda r: self.services.registry.revoke_exemption(
                exemption_id, self.actor, reason, record=r
            ),
        )

    def exemptions(self, organization: str | None = None) -> list[dict[str, Any]]:
        return self._read(
            "ListExemptions",
            {"organization": organization},
            lambda: self.services.registry.exemptions(organization),
        )

    # --- keys ------------------------------------------------------------------------------

    def issue_key(
        self,
        organization: str,
        *,
        use_case_id: int | None,
        member: str | None,
        description: str = "",
    ) -> dict[str, Any]:
        key = self._do(
            "IssueKey",
            {"organization": organization, "use_case": use_case_id, "member": member},
            lambda r: self.services.accounts.issue_key(
                organization,
                description,
                use_case_id=use_case_id,
                member=member,
                registry=self.services.registry,
                record=r,
            ),
        )
        return {
            "organization": key.organization,
            "use_case": key.use_case_id,
            "member": key.member,
            "aws_access_key_id": key.access_key_id,
            "aws_secret_access_key": key.secret_access_key,
        }

    def revoke_key(self, access_key_id: str) -> dict[str, Any]:
        self._do(
            "RevokeKey",
            {"access_key_id": access_key_id},
            lambda r: self.services.accounts.revoke_key(access_key_id, record=r),
        )
        return {"revoked": access_key_id}

    def keys(self, organization: str | None = None) -> list[dict[str, Any]]:
        return self._read(
            "ListKeys",
            {"organization": organization},
            lambda: self.services.accounts.keys(organization),
        )

    # --- policies --------------------------------------------------------------------------

    def policies(self) -> dict[str, Any]:
        return self._read("ListPolicies", {}, self._policies)

    def _policies(self) -> dict[str, Any]:
        point = self.services.point
        return {
            "version": point.version,
            "operator_policy_dir": str(self.services.settings.policy_dir),
            "sources": list(point.policies.sources),
            "policies": [
                {
                    "id": p.id,
                    "rule": p.rule,
                    "effect": p.effect,
                    "source": p.source,
                    "shipped": p.shipped,
                    "advice": p.advice,
                    "error": p.error,
                    "text": p.text,
                }
                for p in point.policies.policies
            ],
        }

    def explain(
        self,
        principal: Principal,
        operation: str,
        *,
        inputs: Inputs,
        threshold: float | None = None,
        max_results: int = 0,
        attributes: tuple[str, ...] = (),
        video_seconds: int = 0,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Which policies allow or deny ``operation`` for ``principal``; nothing runs."""
        known = self.services.point.policies.actions
        if operation not in known:
            raise InvalidParameterException(
                f"Unknown operation {operation!r}; known: {', '.join(sorted(known))}."
            )
        kind = "Account" if operation in ACCOUNT_OPERATIONS else "Collection"
        if operation in REVIEW_OPERATIONS:
            kind = "Review"  # a review of someone else of the same organization
        question = Question(
            operation,
            Resource(
                kind,
                "explain",
                principal.organization_id,
                principal.organization,
                "member:someone-else" if kind == "Review" else "",
            ),
            inputs,
            attributes=attributes,
            threshold=threshold,
            max_results=max_results,
            video_seconds=video_seconds,
        )
        return self._read(
            "ExplainPolicy",
            {"operation": operation, "principal": principal.access_key_id},
            lambda: self.services.point.explain(principal, question, at),
        )

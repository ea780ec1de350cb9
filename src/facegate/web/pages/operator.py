"""The operator's pages: organizations and their people, use cases, exemptions, keys, the
policy set and system health.

Every read and every action is an :class:`~facegate.policy.administration.Administration`
call made as the signed-in operator (``console:<username>``, access key ``console``), after
the decision point allowed ``Administer`` for that person (:func:`authorized`, the guard of
the admin REST API): a denial is recorded, and each action or read leaves its ``Admin.*``
record exactly as the same call through ``/v1/admin`` does. The health page is one
``Administer`` decision and record (:func:`facegate.web.console.act`).

- ``GET /console/operator``: use cases waiting for a decision, and the sections;
- ``GET .../organizations``, ``POST .../organizations`` (create), ``POST
  .../organizations/sector``; ``GET .../organization?name=`` (members and console sign-ins),
  ``POST .../members``, ``POST .../users`` (a generated password, shown once);
- ``GET .../use-cases?status=`` (pending first), ``GET .../use-cases/{id}``, ``POST
  .../use-cases/{id}/decision`` (approve, reject, revoke; a reason is required);
- ``GET .../exemptions``, ``POST .../exemptions`` (grant), ``POST .../exemptions/{id}/revoke``;
- ``GET .../keys?organization=``, ``POST .../keys`` (issue: the secret is shown once),
  ``POST .../keys/{id}/revoke``;
- ``GET .../shown/{token}``: a new key's secret or a new sign-in's password, once: it is kept
  in this process's memory for the operator who made it until that page is shown (or for
  :data:`SHOWN_FOR` seconds), then it is gone for good;
- ``GET .../policies``, ``GET .../policies/explain?...`` (which policies allow or deny);
- ``GET .../health``: what ``/health`` says, the video job queue, open reviews, the audit
  log's head and last signed checkpoint.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select

from facegate.api.app import health_of
from facegate.audit import chain
from facegate.audit.tables import AuditCheckpoint
from facegate.errors import FacegateError, InvalidParameterException, ResourceNotFoundException
from facegate.gallery.tables import SECTORS
from facegate.policy.administration import Administration, authorized, parse_instant
from facegate.policy.point import Inputs
from facegate.policy.registry import OPERATION_CLASSES, Principal
from facegate.policy.tables import EXEMPT_PURPOSES, ROLES, USE_CASE_STATUSES, Review
from facegate.video.tables import VideoJob
from facegate.web.console import (
    PREFIX,
    Who,
    acted,
    form_of,
    redirect,
    render,
    request_id,
    requires,
    services_of,
)
from facegate.web.routes import ConsoleRoute

BASE = f"{PREFIX}/operator"
router = APIRouter(prefix=BASE, route_class=ConsoleRoute, include_in_schema=False)
Operator = Annotated[Who, Depends(requires("operator"))]
SECTIONS = (  # the operator's sub-navigation
    ("Overview", ""),
    ("Organizations", "/organizations"),
    ("Use cases", "/use-cases"),
    ("Exemptions", "/exemptions"),
    ("Keys", "/keys"),
    ("Policies", "/policies"),
    ("Health", "/health"),
)
STATUS_FILTERS = ("all", *USE_CASE_STATUSES, "expired")
DONE = {  # the notice after an action, by the ``done`` query parameter (never echoed text)
    "created": "The organization was created.",
    "sector": "The sector was changed; it binds from the next request on.",
    "member": "The member was added.",
    "approve": "The use case was approved: its keys may now do what it lists.",
    "reject": "The use case was rejected.",
    "revoke": "The use case was revoked: its keys lost every gated operation at once.",
    "granted": "The exemption was granted.",
    "revoked": "Revoked: from the next request on.",
}
SHOWN_FOR = 600  # seconds a new secret waits for its one showing

T = TypeVar("T")


def _page(request: Request, template: str, who: Who, **context: Any) -> HTMLResponse:
    done = DONE.get(request.query_params.get("done", ""))
    return render(
        request, f"operator/{template}", who, sections=SECTIONS, base=BASE, done=done, **context
    )


async def administer(request: Request, who: Who, work: Callable[[Administration], T]) -> T:
    """``work`` with the signed-in operator's Administration, once the decision point has
    allowed ``Administer`` for them (a denial is recorded and answered as a page)."""
    services, rid, path = services_of(request), request_id(request), request.url.path

    def run() -> T:
        actor = f"console:{who.person.username}"
        return work(authorized(services, who.principal, actor, resource=path, request_id=rid))

    return await asyncio.to_thread(run)


def _text(form: dict[str, Any], name: str, limit: int = 2000) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def _number(value: str, what: str) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidParameterException(f"{what} must be a whole number.") from None


def _within(value: str, what: str, high: float) -> float | None:
    """A number from 0 to ``high`` (None when not given), as the REST body checks it."""
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number <= high:
        raise InvalidParameterException(f"{what} must be a number from 0 to {high:g}.")
    return number


def _listed(form: dict[str, Any], name: str) -> list[str]:
    value = form.get(name, [])
    return [value] if isinstance(value, str) else list(value)


class ShownOnce:
    """Secrets for a result page to show once, kept in memory for the user who made them."""

    def __init__(self, ttl: float = SHOWN_FOR):
        self.ttl = ttl
        self._items: dict[str, tuple[int, float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def put(self, user_id: int, item: dict[str, Any]) -> str:
        token, now = secrets.token_urlsafe(24), time.monotonic()
        with self._lock:
            for stale in [k for k, (_, at, _) in self._items.items() if now - at > self.ttl]:
                del self._items[stale]
            self._items[token] = (user_id, now, item)
        return token

    def take(self, user_id: int, token: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._items.get(token)
            if found is None or found[0] != user_id:
                return None
            del self._items[token]
        return found[2] if time.monotonic() - found[1] <= self.ttl else None


shown_once = ShownOnce()


# --- overview ------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
async def overview(request: Request, who: Operator) -> Response:
    use_cases = await administer(request, who, lambda a: a.use_cases())
    pending = [u for u in use_cases if u["status"] == "pending"]
    return _page(request, "overview.html", who, title="Operator", pending=pending)


# --- organizations and their people --------------------------------------------------------


@router.get("/organizations", response_class=HTMLResponse)
async def organizations(request: Request, who: Operator) -> Response:
    found = await administer(request, who, lambda a: a.organizations())
    return _page(
        request,
        "organizations.html",
        who,
        title="Organizations",
        organizations=found,
        sectors=SECTORS,
    )


@router.post("/organizations")
async def create_organization(request: Request, who: Operator) -> Response:
    form = await form_of(request, who)
    name, sector = _text(form, "name", 128), _text(form, "sector")
    await administer(request, who, lambda a: a.create_organization(name, sector))
    return redirect(f"{BASE}/organization?{_query(name=name, done='created')}")


@router.post("/organizations/sector")
async def set_sector(request: Request, who: Operator) -> Response:
    form = await form_of(request, who)
    name, sector = _text(form, "organization", 128), _text(form, "sector")
    await administer(request, who, lambda a: a.set_sector(name, sector))
    return redirect(f"{BASE}/organizations?done=sector")


def _query(**params: str) -> str:
    return urlencode({k: v for k, v in params.items() if v})


@router.get("/organization", response_class=HTMLResponse)
async def organization(request: Request, who: Operator, name: str = Query(max_length=128)):
    def read(a: Administration) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return a.members(name), a.console_users(name)

    members, users = await administer(request, who, read)
    return _page(
        request,
        "organization.html",
        who,
        title=f"Organization {name}",
        name=name,
        members=members,
        users=users,
        roles=ROLES,
    )


@router.post("/members")
async def add_member(request: Request, who: Operator) -> Response:
    form = await form_of(request, who)
    org, name = _text(form, "organization", 128), _text(form, "name", 128)
    roles = [r for r in _listed(form, "roles") if isinstance(r, str)]
    await administer(request, who, lambda a: a.add_member(org, name, roles))
    return redirect(f"{BASE}/organization?{_query(name=org, done='member')}")


@router.post("/users")
async def create_console_user(request: Request, who: Operator) -> Response:
    form = await form_of(request, who)
    org, member = _text(form, "organization", 128), _text(form, "member", 128)
    username = _text(form, "username", 64)
    password = secrets.token_urlsafe(15)  # as `facegate user create` makes one
    made = await administer(
        request, who, lambda a: a.create_console_user(org, member, username, password)
    )
    token = shown_once.put(who.person.user_id, {"kind": "password", **made, "secret": password})
    return redirect(f"{BASE}/shown/{token}")


# --- use cases -----------------------------------------------------------------------------


@router.get("/use-cases", response_class=HTMLResponse)
async def use_cases(request: Request, who: Operator, status: str = "all") -> Response:
    status = status if status in STATUS_FILTERS else "all"
    found = await administer(request, who, lambda a: a.use_cases())
    shown = sorted(
        (u for u in found if status in ("all", u["status"])),
        key=lambda u: (u["status"] != "pending", u["id"]),
    )
    return _page(
        request,
        "use_cases.html",
        who,
        title="Use cases",
        use_cases=shown,
        status_filter=status,
        statuses=STATUS_FILTERS,
    )


@router.get("/use-cases/{use_case_id}", response_class=HTMLResponse)
async def use_case(request: Request, who: Operator, use_case_id: int) -> Response:
    found = await administer(request, who, lambda a: a.use_cases())
    chosen = next((u for u in found if u["id"] == use_case_id), None)
    if chosen is None:
        raise ResourceNotFoundException(f"No use case {use_case_id}.")
    return _page(request, "use_case.html", who, title=f"Use case {use_case_id}", use_case=chosen)


@router.post("/use-cases/{use_case_id}/decision")
async def decide_use_case(request: Request, who: Operator, use_case_id: int) -> Response:
    form = await form_of(request, who)
    decision, reason = _text(form, "decision"), _text(form, "reason")
    if decision not in ("approve", "reject", "revoke"):
        raise InvalidParameterException("The decision is approve, reject or revoke.")
    await administer(request, who, lambda a: a.decide_use_case(use_case_id, decision, reason))
    return redirect(f"{BASE}/use-cases/{use_case_id}?done={decision}")


# --- exemptions ----------------------------------------------------------------------------


@router.get("/exemptions", response_class=HTMLResponse)
async def exemptions(request: Request, who: Operator) -> Response:
    def read(a: Administration) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return a.exemptions(), a.organizations()

    found, orgs = await administer(request, who, read)
    return _page(
        request,
        "exemptions.html",
        who,
        title="Exemptions",
        exemptions=found,
        organizations=orgs,
        purposes=EXEMPT_PURPOSES,
    )


@router.post("/exemptions")
async def grant_exemption(request: Request, who: Operator) -> Response:
    form = await form_of(request, who)
    org, purpose = _text(form, "organization", 128), _text(form, "purpose")
    reason = _text(form, "reason")
    expires = parse_instant(_text(form, "expires"), "The expiry")
    await administer(request, who, lambda a: a.grant_exemption(org, purpose, reason, expires))
    return redirect(f"{BASE}/exemptions?done=granted")


@router.post("/exemptions/{exemption_id}/revoke")
async def revoke_exemption(request: Request, who: Operator, exemption_id: int) -> Response:
    form = await form_of(request, who)
    reason = _text(form, "reason")
    await administer(request, who, lambda a: a.revoke_exemption(exemption_id, reason))
    return redirect(f"{BASE}/exemptions?done=revoked")


# --- keys ----------------------------------------------------------------------------------


@router.get("/keys", response_class=HTMLResponse)
async def keys(
    request: Request,
    who: Operator,
    organization: str = Query("", max_length=128),
    use_case: int | None = None,
) -> Response:
    def read(a: Administration) -> tuple[Any, Any, Any]:
        return a.keys(organization or None), a.organizations(), a.use_cases(organization or None)

    found, orgs, registered = await administer(request, who, read)
    return _page(
        request,
        "keys.html",
        who,
        title="Keys",
        keys=found,
        organizations=orgs,
        organization=organization,
        approved=[u for u in registered if u["status"] == "approved"],
        use_case=use_case,
    )


@router.post("/keys")
async def issue_key(request: Request, who: Operator) -> Response:
    form = await form_of(request, who)
    org = _text(form, "organization", 128)
    use_case = _number(_text(form, "use_case"), "The use case")
    member, description = _text(form, "member", 128) or None, _text(form, "description", 256)
    issued = await administer(
        request,
        who,
        lambda a: a.issue_key(org, use_case_id=use_case, member=member, description=description),
    )
    secret = issued.pop("aws_secret_access_key")
    item = {"kind": "key", **issued, "secret": secret}
    return redirect(f"{BASE}/shown/{shown_once.put(who.person.user_id, item)}")


@router.post("/keys/{access_key_id}/revoke")
async def revoke_key(request: Request, who: Operator, access_key_id: str) -> Response:
    form = await form_of(request, who)
    await administer(request, who, lambda a: a.revoke_key(access_key_id))
    back = _query(organization=_text(form, "organization", 128), done="revoked")
    return redirect(f"{BASE}/keys?{back}")


@router.get("/shown/{token}", response_class=HTMLResponse)
async def shown(request: Request, who: Operator, token: str) -> Response:
    item = shown_once.take(who.person.user_id, token)
    return _page(
        request, "shown.html", who, status=200 if item else 410, title="Shown once", item=item
    )


# --- the policy set ------------------------------------------------------------------------


@router.get("/policies", response_class=HTMLResponse)
async def policies(request: Request, who: Operator) -> Response:
    found = await administer(request, who, lambda a: a.policies())
    return _page(
        request, "policies.html", who, title="Policies", **found, **_explain_choices(request)
    )


def _explain_choices(request: Request) -> dict[str, Any]:
    services = services_of(request)
    return {
        "operations": sorted(services.point.policies.actions),
        "sectors": SECTORS,
        "purposes": sorted(services.registry.purposes),
        "statuses": ("approved", "pending", "rejected", "revoked", "expired"),
        "classes": OPERATION_CLASSES,
        "exempt_purposes": EXEMPT_PURPOSES,
        "roles": ROLES,
    }


@router.get("/policies/explain", response_class=HTMLResponse)
async def explain(request: Request, who: Operator) -> Response:
    asked = request.query_params
    services = services_of(request)

    def field(name: str) -> str:
        return asked.get(name, "").strip()[:256]

    def listed(name: str) -> list[str]:
        return [v for v in asked.getlist(name) if v][:16]

    def work(a: Administration) -> dict[str, Any]:
        if field("access_key_id"):
            principal = services.registry.principal(field("access_key_id"))
        else:
            principal = Principal.described(
                sector=field("sector") or "commercial",
                purpose=field("purpose"),
                use_case_status=field("use_case_status") or "approved",
                operations=listed("operations"),
                exemptions=listed("exemptions"),
                roles=listed("roles") or ["analyst"],
                human_review=bool(field("human_review")),
            )
        return a.explain(
            principal,
            field("operation"),
            inputs=Inputs(field("case"), field("warrant"), field("basis"), field("provenance")),
            threshold=_within(field("threshold"), "The threshold", 100),
            max_results=int(_within(field("max_results"), "Max results", 10**6) or 0),
            video_seconds=int(_within(field("video_seconds"), "Video seconds", 10**7) or 0),
        )

    result, refused = None, None
    try:
        result = await administer(request, who, work)
    except FacegateError as error:
        if error.type_name == "AccessDeniedException":
            raise  # Administer itself was denied: the refusal page
        refused = error.message
    return _page(
        request,
        "explain.html",
        who,
        status=400 if refused else 200,
        title="Explain a decision",
        asked=asked,
        chosen={k: asked.getlist(k) for k in ("operations", "exemptions", "roles")},
        result=result,
        refused=refused,
        **_explain_choices(request),
    )


# --- system health -------------------------------------------------------------------------


def system_health(request: Request) -> dict[str, Any]:
    """What ``/health`` says, and the state of the job queue, the reviews and the audit log."""
    services = services_of(request)
    now = services.point.clock()
    with services.audit.sessions() as s:
        jobs = dict(
            s.execute(select(VideoJob.status, func.count()).group_by(VideoJob.status)).all()
        )
        open_reviews = s.scalar(
            select(func.count())
            .select_from(Review)
            .where(Review.status == "open", Review.expires_at > now)
        )
        head_seq, head_hash = chain.head(s)
        latest = s.scalars(
            select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)
        ).first()
    gate = services.fairness.status()
    return {
        "served": health_of(request.app),
        "policy_version": services.point.version,
        "fairness_gate": gate,
        "jobs": {status: jobs.get(status, 0) for status in ("QUEUED", "IN_PROGRESS")},
        "open_reviews": open_reviews or 0,
        "head": {"seq": head_seq, "hash": head_hash},
        "checkpoint": None
        if latest is None
        else {
            "seq": latest.seq,
            "at": chain.timestamp(latest.at),
            "key_id": latest.key_id,
            "behind": head_seq - latest.seq,
        },
        "at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }


@router.get("/health", response_class=HTMLResponse)
async def health(request: Request, who: Operator) -> Response:
    found = await acted(
        request, who, "Administer", lambda _record: system_health(request), resource="health"
    )
    return _page(request, "health.html", who, title="System health", **found)

"""The operator's pages: organizations and their people, use cases, exemptions.

Every read and every action is an Administration call made as the signed-in operator once
the decision point allowed ``Administer`` (:func:`facegate.web.operating.administer`); the
keys are in :mod:`.operator_keys`, the policy set in :mod:`.operator_policies`, system health
in :mod:`.operator_health`.

- ``GET /console/operator``: use cases waiting for a decision, and the sections;
- ``GET .../organizations``, ``POST .../organizations`` (create), ``POST
  .../organizations/sector``; ``GET .../organization?name=`` (members and console sign-ins),
  ``POST .../members``, ``POST .../users`` (a generated password, shown once on
  ``.../shown/{token}``);
- ``GET .../use-cases?status=`` (pending first), ``GET .../use-cases/{id}``, ``POST
  .../use-cases/{id}/decision`` (approve, reject, revoke; a reason is required);
- ``GET .../exemptions``, ``POST .../exemptions`` (grant), ``POST .../exemptions/{id}/revoke``.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from facegate.actions.administration import Administration, parse_instant
from facegate.errors import InvalidParameterException, ResourceNotFoundException
from facegate.gallery.tables import SECTORS
from facegate.policy.tables import EXEMPT_PURPOSES, ROLES, USE_CASE_STATUSES
from facegate.web.console import form_of, redirect
from facegate.web.operating import BASE, Operator, administer, listed, page, query, text
from facegate.web.route import ConsoleRoute
from facegate.web.shown import shown_once_of

router = APIRouter(prefix=BASE, route_class=ConsoleRoute, include_in_schema=False)
STATUS_FILTERS = ("all", *USE_CASE_STATUSES, "expired")


# --- overview ------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
async def overview(request: Request, who: Operator) -> Response:
    use_cases = await administer(request, who, lambda a: a.use_cases())
    pending = [u for u in use_cases if u["status"] == "pending"]
    return page(request, "overview.html", who, title="Operator", pending=pending)


# --- organizations and their people --------------------------------------------------------


@router.get("/organizations", response_class=HTMLResponse)
async def organizations(request: Request, who: Operator) -> Response:
    found = await administer(request, who, lambda a: a.organizations())
    return page(
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
    name, sector = text(form, "name", 128), text(form, "sector")
    await administer(request, who, lambda a: a.create_organization(name, sector))
    return redirect(f"{BASE}/organization?{query(name=name, done='created')}")


@router.post("/organizations/sector")
async def set_sector(request: Request, who: Operator) -> Response:
    form = await form_of(request, who)
    name, sector = text(form, "organization", 128), text(form, "sector")
    await administer(request, who, lambda a: a.set_sector(name, sector))
    return redirect(f"{BASE}/organizations?done=sector")


@router.get("/organization", response_class=HTMLResponse)
async def organization(
    request: Request, who: Operator, name: str = Query(max_length=128)
) -> Response:
    def read(a: Administration) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return a.members(name), a.console_users(name)

    members, users = await administer(request, who, read)
    return page(
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
    org, name = text(form, "organization", 128), text(form, "name", 128)
    roles = [r for r in listed(form, "roles") if isinstance(r, str)]
    await administer(request, who, lambda a: a.add_member(org, name, roles))
    return redirect(f"{BASE}/organization?{query(name=org, done='member')}")


@router.post("/users")
async def create_console_user(request: Request, who: Operator) -> Response:
    form = await form_of(request, who)
    org, member = text(form, "organization", 128), text(form, "member", 128)
    username = text(form, "username", 64)
    password = secrets.token_urlsafe(15)  # as `facegate user create` makes one
    made = await administer(
        request, who, lambda a: a.create_console_user(org, member, username, password)
    )
    item = {"kind": "password", **made, "secret": password}
    return redirect(f"{BASE}/shown/{shown_once_of(request).put(who.person.user_id, item)}")


# --- use cases -----------------------------------------------------------------------------


@router.get("/use-cases", response_class=HTMLResponse)
async def use_cases(request: Request, who: Operator, status: str = "all") -> Response:
    status = status if status in STATUS_FILTERS else "all"
    found = await administer(request, who, lambda a: a.use_cases())
    shown = sorted(
        (u for u in found if status in ("all", u["status"])),
        key=lambda u: (u["status"] != "pending", u["id"]),
    )
    return page(
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
    return page(request, "use_case.html", who, title=f"Use case {use_case_id}", use_case=chosen)


@router.post("/use-cases/{use_case_id}/decision")
async def decide_use_case(request: Request, who: Operator, use_case_id: int) -> Response:
    form = await form_of(request, who)
    decision, reason = text(form, "decision"), text(form, "reason")
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
    return page(
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
    org, purpose = text(form, "organization", 128), text(form, "purpose")
    reason = text(form, "reason")
    expires = parse_instant(text(form, "expires"), "The expiry")
    await administer(request, who, lambda a: a.grant_exemption(org, purpose, reason, expires))
    return redirect(f"{BASE}/exemptions?done=granted")


@router.post("/exemptions/{exemption_id}/revoke")
async def revoke_exemption(request: Request, who: Operator, exemption_id: int) -> Response:
    form = await form_of(request, who)
    reason = text(form, "reason")
    await administer(request, who, lambda a: a.revoke_exemption(exemption_id, reason))
    return redirect(f"{BASE}/exemptions?done=revoked")

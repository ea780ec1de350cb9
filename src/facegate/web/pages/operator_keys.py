"""The operator's key pages: an organization's keys, issuing one (its secret shown once),
revoking one, and the page that shows a new secret once.

- ``GET /console/operator/keys?organization=``, ``POST .../keys`` (issue: the secret is shown
  once), ``POST .../keys/{id}/revoke``;
- ``GET .../shown/{token}``: a new key's secret or a new sign-in's password, once
  (:mod:`facegate.web.shown`: kept in the server's memory for the operator who made it until
  that page is shown, or for ``SHOWN_FOR`` seconds, then gone for good).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from facegate.actions.administration import Administration
from facegate.web.console import form_of, redirect
from facegate.web.operating import BASE, Operator, administer, number, page, query, text
from facegate.web.route import ConsoleRoute
from facegate.web.shown import shown_once_of

router = APIRouter(prefix=BASE, route_class=ConsoleRoute, include_in_schema=False)


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
    return page(
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
    org = text(form, "organization", 128)
    use_case = number(text(form, "use_case"), "The use case")
    member, description = text(form, "member", 128) or None, text(form, "description", 256)
    issued = await administer(
        request,
        who,
        lambda a: a.issue_key(org, use_case_id=use_case, member=member, description=description),
    )
    secret = issued.pop("aws_secret_access_key")
    item = {"kind": "key", **issued, "secret": secret}
    return redirect(f"{BASE}/shown/{shown_once_of(request).put(who.person.user_id, item)}")


@router.post("/keys/{access_key_id}/revoke")
async def revoke_key(request: Request, who: Operator, access_key_id: str) -> Response:
    form = await form_of(request, who)
    await administer(request, who, lambda a: a.revoke_key(access_key_id))
    back = query(organization=text(form, "organization", 128), done="revoked")
    return redirect(f"{BASE}/keys?{back}")


@router.get("/shown/{token}", response_class=HTMLResponse)
async def shown(request: Request, who: Operator, token: str) -> Response:
    item = shown_once_of(request).take(who.person.user_id, token)
    return page(
        request, "shown.html", who, status=200 if item else 410, title="Shown once", item=item
    )

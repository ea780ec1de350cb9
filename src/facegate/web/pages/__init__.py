"""The console's pages, one module per role's work; each module's ``router`` is listed here.

Adding a page (read src/facegate/web/console.py first):

- a module here with ``router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute,
  include_in_schema=False)``, listed in ``PAGE_ROUTERS`` below, and its templates in
  ``templates/<module>/`` extending ``base.html``;
- ``Depends(requires("role"))`` on every route, so no other role opens the page;
- every read and every action through the policy decision point as the signed-in person
  (``act``/``acted``, ``review_action``, ``Administration(..., principal=who.principal)``),
  so it is decided and recorded exactly as the same request through the API;
- every POST form carries ``<input type="hidden" name="csrf" value="{{ csrf }}">`` and is read
  with ``form_of``; answer a successful post with ``redirect`` (303);
- no inline scripts or styles, no other origins (the CSP refuses them); images as ``data:``;
- labels for every input, real buttons, ``<th scope>`` in tables;
- a browser test (tests/browser.py) that does the page's main task in Chromium.

While several engineers add pages at once: commit only your own files, by name (never
``git add -A``), run ``duplicates --change`` before committing, and do not run the server or
browser tests while ``bench/video.py`` runs (``pgrep -f bench/video.py``): it measures speed.
"""

from __future__ import annotations

from fastapi import APIRouter

from facegate.web.pages import auditor, operator, organization, owner, reviewer

PAGE_ROUTERS: list[APIRouter] = [
    reviewer.router,
    owner.router,
    operator.router,
    auditor.router,
    organization.router,
]

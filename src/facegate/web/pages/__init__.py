"""The console's pages, one module per role's work (a role's larger work in a few modules).

Adding a page (read src/facegate/web/console.py first):

- a module here with ``router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute,
  include_in_schema=False)`` (:mod:`facegate.web.route`), listed in
  :func:`facegate.web.routes.routers`, and its templates in ``templates/<role>/`` extending
  ``base.html``; page modules never import each other (what several share is in
  ``web/console.py``, ``web/format.py`` or a module of its own);
- ``Depends(requires("role"))`` on every route, so no other role opens the page;
- every read and every action through the policy decision point as the signed-in person
  (``act``/``acted``, ``review_action``, ``Administration(..., principal=who.principal)``),
  so it is decided and recorded exactly as the same request through the API; reads and
  changes are the services' methods (``services.X.method(...)``), never SQL in a page;
- every POST form carries ``<input type="hidden" name="csrf" value="{{ csrf }}">`` and is read
  with ``form_of``; answer a successful post with ``redirect`` (303);
- no inline scripts or styles, no other origins (the CSP refuses them); images as ``data:``;
- labels for every input, real buttons, ``<th scope>`` in tables;
- a browser test (tests/browser.py) that does the page's main task in Chromium.
"""

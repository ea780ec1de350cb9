"""Cameras, agencies' footage requests and owners' decisions (FOOTAGE-CONSENT).

Camera owners are members with the ``owner`` role of a ``community`` organization; each camera
belongs to one of them. An agency (any other sector) asks for footage of one time window from
named cameras or from every camera within a radius of a point (chosen when the request is
made). Each owner approves or declines the request for each of their cameras, and can revoke
an approval until footage of that camera has been shared for the request: once shared, the
approval is used. The agency may close its request; nothing is decided or shared after that.

:class:`Footage` is the one class callers use (``services.footage``); it is made of one part
per concern, each in its own module over the shared :class:`~facegate.footage.core.FootageCore`
(sessions, clock):

- :mod:`facegate.footage.cameras`: registering and listing cameras
- :mod:`facegate.footage.requests`: agencies' requests: made, seen, closed
- :mod:`facegate.footage.decisions`: owners' decisions (``TRANSITIONS``)
- :mod:`facegate.footage.facts`: what a share is decided on, and counting it

with what a request may ask for in :mod:`facegate.footage.inputs` and distances in
:mod:`facegate.footage.geometry`. Who sees what is in :mod:`facegate.footage.views`; tenancy
is in every query: a camera or a request the caller may not see is "not found". The policies
(``FOOTAGE-CONSENT.*``) decide who may act; what may be shared is decided on
:meth:`Footage.facts`. A method that changes state takes ``record``
(:data:`facegate.audit.log.Record`) and calls it inside its transaction: the change and its
audit record commit together.
"""

from __future__ import annotations

from facegate.footage.cameras import CameraOperations
from facegate.footage.decisions import DecisionOperations
from facegate.footage.facts import ShareOperations
from facegate.footage.requests import RequestOperations


class Footage(CameraOperations, RequestOperations, DecisionOperations, ShareOperations):
    """Cameras, requests, decisions and the facts of a share (see the module docstring)."""

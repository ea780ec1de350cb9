"""The REST front door under ``/v1`` (see :mod:`facegate.api.rest.routes`)."""

from facegate.api.rest.errors import REQUEST_ID_HEADER, error_response
from facegate.api.rest.routes import router

__all__ = ["REQUEST_ID_HEADER", "error_response", "router"]

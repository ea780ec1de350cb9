"""What a camera or a footage request may give, checked before anything is read or stored.

How much a request may ask for: one window of at most a day, in the past (footage that is not
recorded yet would be surveillance, not a request for evidence), from at most
:data:`MAX_CAMERAS` named cameras, or from a circle of :data:`MIN_RADIUS_M` to
:data:`MAX_RADIUS_M` metres.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from facegate.db import aware
from facegate.errors import InvalidParameterException
from facegate.footage.geometry import Area

MAX_WINDOW = timedelta(hours=24)
MAX_CAMERAS = 100
MIN_RADIUS_M, MAX_RADIUS_M = 50.0, 5000.0


def text(value: str | None, what: str, limit: int) -> str:
    """A required text of at most ``limit`` characters, stripped."""
    if value is None or not str(value).strip():
        raise InvalidParameterException(f"{what} is required and cannot be empty.")
    if len(value) > limit:
        raise InvalidParameterException(f"{what} is longer than {limit} characters.")
    return str(value).strip()


def coordinates(latitude: float, longitude: float) -> tuple[float, float]:
    """A point's latitude and longitude, numbers in range (degrees, WGS 84)."""
    try:
        lat, lon = float(latitude), float(longitude)
    except (TypeError, ValueError):
        raise InvalidParameterException("Latitude and Longitude must be numbers.") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidParameterException(
            "Latitude must be from -90 to 90 and Longitude from -180 to 180 (degrees, WGS 84)."
        )
    return lat, lon


def window(start: datetime, end: datetime, now: datetime) -> tuple[datetime, datetime]:
    """A request's window (aware, UTC): in order, at most MAX_WINDOW long, not in the future."""
    start, end = aware(start), aware(end)
    if end <= start:
        raise InvalidParameterException("WindowEnd must be later than WindowStart.")
    if end - start > MAX_WINDOW:
        raise InvalidParameterException(
            f"A request covers at most {MAX_WINDOW.total_seconds() / 3600:g} hours of "
            "footage; make the window narrower."
        )
    if end > now:
        raise InvalidParameterException(
            "WindowEnd is in the future: only footage already recorded can be requested."
        )
    return start, end


def circle(area: Area) -> tuple[float, float]:
    """An area's centre, checked with its radius."""
    lat, lon = coordinates(area.latitude, area.longitude)
    if not MIN_RADIUS_M <= area.radius_m <= MAX_RADIUS_M:
        raise InvalidParameterException(
            f"RadiusMeters must be from {MIN_RADIUS_M:g} to {MAX_RADIUS_M:g}."
        )
    return lat, lon


def camera_ids(named: Iterable[int]) -> list[int]:
    """The named cameras, each once, in the order named: 1 to MAX_CAMERAS of them."""
    wanted = list(dict.fromkeys(int(c) for c in named))
    if not wanted or len(wanted) > MAX_CAMERAS:
        raise InvalidParameterException(f"Name 1 to {MAX_CAMERAS} CameraIds.")
    return wanted

"""Where cameras are: points in WGS 84 degrees, a request's circle, great-circle distances."""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class Area:
    """A request by area: every camera within ``radius_m`` metres of the point."""

    latitude: float
    longitude: float
    radius_m: float


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def latitude_span(radius_m: float) -> float:
    """The degrees of latitude ``radius_m`` metres cover (north or south of a point): a box
    around a circle that narrows a scan before the distance decides."""
    return math.degrees(radius_m / EARTH_RADIUS_M)

"""``facegate footage``: camera owners and agencies, each with their own key, over HTTP.

Unlike the operator's commands, these talk to a running server's REST API
(``/v1/cameras``, ``/v1/footage-requests``) with the caller's key, so the policies decide and
the audit log records exactly as for any other client. ``--endpoint`` (default
``FACEGATE_ENDPOINT`` or http://127.0.0.1:8080) and ``--key ACCESS_KEY_ID:SECRET`` (default
``FACEGATE_API_KEY``).

Owners: ``cameras add|list``, ``request list|show``, ``decide ID approve|decline|revoke``,
``share FILE --request ID --camera ID --recorded-from T``. Agencies: ``request
create|list|show|close``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from facegate.cli.governance import _print

DEFAULT_ENDPOINT = "http://127.0.0.1:8080"
TIMEOUT = 600  # seconds: an upload of a long video takes a while


class Refused(Exception):
    """The server refused the request (its error type and message), or could not be reached."""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--endpoint",
        default=None,
        help=f"the server (default FACEGATE_ENDPOINT or {DEFAULT_ENDPOINT})",
    )
    p.add_argument("--key", default=None, help="ACCESS_KEY_ID:SECRET (default FACEGATE_API_KEY)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _ids(text: str) -> list[int]:
    try:
        return [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated camera ids, got {text!r}"
        ) from None


def _point(text: str) -> tuple[float, float]:
    try:
        lat, lon = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LATITUDE,LONGITUDE, got {text!r}") from None
    return lat, lon


def add_parser(sub: argparse._SubParsersAction) -> None:
    footage = sub.add_parser(
        "footage", help="camera owners and agencies: cameras, footage requests, sharing"
    )
    groups = footage.add_subparsers(dest="action", required=True, metavar="ACTION")

    cameras = groups.add_parser("cameras", help="camera owners: your cameras").add_subparsers(
        dest="verb", required=True, metavar="VERB"
    )
    p = cameras.add_parser("add", help="register a camera")
    p.add_argument("name")
    p.add_argument("--lat", type=float, required=True, help="latitude (degrees)")
    p.add_argument("--lon", type=float, required=True, help="longitude (degrees)")
    p.add_argument("--address", default="", help="where it is, in words")
    p.add_argument("--owner", default=None, help="admins: the owning member (default: you)")
    _common(p)
    _common(cameras.add_parser("list", help="your cameras (admins: the organization's)"))

    requests = groups.add_parser("request", help="footage requests").add_subparsers(
        dest="verb", required=True, metavar="VERB"
    )
    p = requests.add_parser("create", help="agencies: ask for footage of a time window")
    p.add_argument("--incident", required=True, help="the incident or case reference")
    p.add_argument("--reason", required=True, help="why (the owners read it)")
    p.add_argument("--from", dest="start", required=True, help="window start (ISO 8601)")
    p.add_argument("--to", dest="end", required=True, help="window end (ISO 8601)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--cameras", type=_ids, help="camera ids, comma-separated")
    where.add_argument("--near", type=_point, metavar="LAT,LON", help="centre of an area")
    p.add_argument("--radius", type=float, default=None, help="with --near: metres (50-5000)")
    _common(p)
    _common(requests.add_parser("list", help="the requests you may see"))
    for verb, text in (("show", "one request"), ("close", "agencies: close a request")):
        p = requests.add_parser(verb, help=text)
        p.add_argument("id", type=int)
        _common(p)

    p = groups.add_parser("decide", help="camera owners: approve, decline or revoke")
    p.add_argument("id", type=int, help="the footage request")
    p.add_argument("decision", choices=("approve", "decline", "revoke"))
    p.add_argument("--cameras", type=_ids, default=None, help="only these of your cameras")
    _common(p)

    p = groups.add_parser("share", help="camera owners: send a video for an approved request")
    p.add_argument("file", type=Path, metavar="FILE", help="the video (H.264 in MP4 or MOV)")
    p.add_argument("--request", type=int, required=True, help="the footage request")
    p.add_argument("--camera", type=int, required=True, help="the camera it was recorded by")
    p.add_argument(
        "--recorded-from", required=True, help="when the video starts (ISO 8601, UTC default)"
    )
    _common(p)


class Client:
    def __init__(self, endpoint: str, key: str):
        self.endpoint = endpoint.rstrip("/")
        self.key = key

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        upload: Path | None = None,
        query: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        url = f"{self.endpoint}/v1{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {"X-Api-Key": self.key}
        data: Any = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        handle = None
        if upload is not None:
            handle = open(upload, "rb")  # noqa: SIM115 (streamed by urllib, closed below)
            data = handle
            headers["Content-Type"] = "video/mp4"
            headers["Content-Length"] = str(upload.stat().st_size)
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            raise Refused(_error_text(error)) from None
        except urllib.error.URLError as error:
            raise Refused(f"cannot reach {self.endpoint}: {error.reason}") from None
        finally:
            if handle is not None:
                handle.close()


def _error_text(error: urllib.error.HTTPError) -> str:
    try:
        detail = json.loads(error.read())["error"]
        return f"{detail['type']}: {detail['message']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {error.code} {error.reason}"


def _dispatch(args: argparse.Namespace, client: Client) -> Any:
    action, verb = args.action, getattr(args, "verb", None)
    if action == "cameras" and verb == "add":
        body = {"Name": args.name, "Latitude": args.lat, "Longitude": args.lon}
        body |= {"Address": args.address} | ({"Owner": args.owner} if args.owner else {})
        return client.call("POST", "/cameras", body)
    if action == "cameras":
        return client.call("GET", "/cameras")["Cameras"]
    if action == "request" and verb == "create":
        body = {
            "IncidentReference": args.incident,
            "Reason": args.reason,
            "WindowStart": args.start,
            "WindowEnd": args.end,
        }
        if args.cameras is not None:
            body["CameraIds"] = args.cameras
        else:
            if args.radius is None:
                raise Refused("--near needs --radius (metres)")
            body["Area"] = {"Latitude": args.near[0], "Longitude": args.near[1]}
            body["Area"]["RadiusMeters"] = args.radius
        return client.call("POST", "/footage-requests", body)
    if action == "request" and verb == "list":
        return client.call("GET", "/footage-requests")["FootageRequests"]
    if action == "request" and verb == "show":
        return client.call("GET", f"/footage-requests/{args.id}")
    if action == "request":
        return client.call("POST", f"/footage-requests/{args.id}/close")
    if action == "decide":
        body = {"Decision": args.decision.upper()}
        if args.cameras is not None:
            body["CameraIds"] = args.cameras
        return client.call("POST", f"/footage-requests/{args.id}/decision", body)
    query = {"camera": args.camera, "recorded_from": args.recorded_from}
    path = f"/footage-requests/{args.request}/footage"
    return client.call("POST", path, upload=args.file, query=query)


def run(args: argparse.Namespace) -> int:
    label = " ".join(x for x in ("facegate footage", args.action, getattr(args, "verb", "")) if x)
    key = args.key or os.environ.get("FACEGATE_API_KEY")
    if not key:
        print(f"{label}: give --key ACCESS_KEY_ID:SECRET or set FACEGATE_API_KEY", file=sys.stderr)
        return 2
    endpoint = args.endpoint or os.environ.get("FACEGATE_ENDPOINT") or DEFAULT_ENDPOINT
    try:
        result = _dispatch(args, Client(endpoint, key))
    except (Refused, OSError) as exc:
        print(f"{label}: {exc}", file=sys.stderr)
        return 3
    _print(result, args.json)
    return 0

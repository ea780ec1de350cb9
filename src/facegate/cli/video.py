"""``facegate video detect|search FILE``: a video job on a running server, with progress.

The file is uploaded to the server's video store with the caller's key, the job is started
(the policies decide, as for any client), its progress is shown as a bar, and the answer is
printed as a table: each person (search) or each stretch with faces (detection), with the
time ranges they are seen in and, for a search, the collection faces they matched.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from facegate.cli.footage import DEFAULT_ENDPOINT, Client, Refused

GAP_MS = 1500  # sightings further apart than this are separate time ranges
POLL_SECONDS = 0.5


def add_parser(sub: argparse._SubParsersAction) -> None:
    video = sub.add_parser("video", help="find or search faces in a video (on a running server)")
    verbs = video.add_subparsers(dest="verb", required=True, metavar="VERB")
    detect = verbs.add_parser("detect", help="find the faces in a video")
    search = verbs.add_parser("search", help="search a video for the faces of a collection")
    search.add_argument("--collection", required=True, help="the collection to search")
    search.add_argument(
        "--threshold", type=float, default=80.0, help="FaceMatchThreshold 0-100 (default 80)"
    )
    search.add_argument("--case", default=None, help="case reference (CASE-REFERENCE)")
    search.add_argument("--warrant", default=None, help="warrant or court order (WARRANT)")
    for p in (detect, search):
        p.add_argument("file", type=Path, metavar="FILE", help="an H.264 MP4 or MOV file")
        p.add_argument("--tag", default=None, help="JobTag")
        p.add_argument(
            "--endpoint",
            default=None,
            help=f"the server (default FACEGATE_ENDPOINT or {DEFAULT_ENDPOINT})",
        )
        p.add_argument(
            "--key", default=None, help="ACCESS_KEY_ID:SECRET (default FACEGATE_API_KEY)"
        )
        p.add_argument("--json", action="store_true", help="print the whole answer as JSON")
        p.add_argument("--quiet", action="store_true", help="no progress bar")


def ranges(timestamps: list[int], gap_ms: int = GAP_MS) -> list[tuple[int, int]]:
    """Sorted timestamps (ms) merged into (first, last) ranges."""
    out: list[tuple[int, int]] = []
    for t in sorted(timestamps):
        if out and t - out[-1][1] <= gap_ms:
            out[-1] = (out[-1][0], t)
        else:
            out.append((t, t))
    return out


def _seconds(span: tuple[int, int]) -> str:
    return f"{span[0] / 1000:.1f}-{span[1] / 1000:.1f} s"


def people_table(persons: list[dict[str, Any]]) -> Table:
    table = Table(title="People in the video")
    for column in ("Person", "Seen", "Sightings", "Matches"):
        table.add_column(column)
    by_index: dict[int, list[dict[str, Any]]] = {}
    for entry in persons:
        by_index.setdefault(entry["Person"]["Index"], []).append(entry)
    for index, entries in sorted(by_index.items()):
        best: dict[str, float] = {}
        for entry in entries:
            for m in entry.get("FaceMatches", []):
                name = m["Face"].get("ExternalImageId") or m["Face"]["FaceId"]
                best[name] = max(best.get(name, 0.0), m["Similarity"])
        matches = ", ".join(f"{n} ({s:.1f})" for n, s in sorted(best.items(), key=lambda x: -x[1]))
        seen = ", ".join(_seconds(r) for r in ranges([e["Timestamp"] for e in entries]))
        table.add_row(str(index), seen, str(len(entries)), matches or "no match")
    return table


def faces_table(faces: list[dict[str, Any]]) -> Table:
    table = Table(title="Faces in the video")
    for column in ("Seen", "Sightings", "Most faces in one frame"):
        table.add_column(column)
    per_frame: dict[int, int] = {}
    for face in faces:
        per_frame[face["Timestamp"]] = per_frame.get(face["Timestamp"], 0) + 1
    for span in ranges(list(per_frame)):
        inside = [n for t, n in per_frame.items() if span[0] <= t <= span[1]]
        table.add_row(_seconds(span), str(sum(inside)), str(max(inside)))
    return table


def _wait(client: Client, job_id: str, quiet: bool) -> dict[str, Any]:
    bar = None if quiet else tqdm(total=100, unit="%", desc="analysing", file=sys.stderr)
    try:
        while True:
            status = client.call("GET", f"/video/jobs/{job_id}")
            if bar is not None:
                progress = status["Progress"]
                bar.set_postfix_str(f"{progress['FramesDone']}/{progress['FramesTotal']} frames")
                bar.update(progress["Percent"] - bar.n)
            if status["JobStatus"] != "IN_PROGRESS":
                return status
            time.sleep(POLL_SECONDS)
    finally:
        if bar is not None:
            bar.close()


def _results(client: Client, path: str, key: str, sort: str | None) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    token = None
    while True:
        query: dict[str, Any] = {"max_results": 1000}
        if token:
            query["next_token"] = token
        if sort:
            query["sort_by"] = sort
        page = client.call("GET", path, query=query)
        entries += page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return entries


def run(args: argparse.Namespace) -> int:
    label = f"facegate video {args.verb}"
    key = args.key or os.environ.get("FACEGATE_API_KEY")
    if not key:
        print(f"{label}: give --key ACCESS_KEY_ID:SECRET or set FACEGATE_API_KEY", file=sys.stderr)
        return 2
    if not args.file.is_file():
        print(f"{label}: no such file: {args.file}", file=sys.stderr)
        return 2
    client = Client(args.endpoint or os.environ.get("FACEGATE_ENDPOINT") or DEFAULT_ENDPOINT, key)
    search = args.verb == "search"
    try:
        video = client.call("POST", "/videos", upload=args.file)
        body: dict[str, Any] = {"Video": video["Video"]}
        if args.tag:
            body["JobTag"] = args.tag
        if search:
            body |= {"CollectionId": args.collection, "FaceMatchThreshold": args.threshold}
            if args.case:
                body["CaseReference"] = args.case
            if args.warrant:
                body["WarrantReference"] = args.warrant
        path = "/video/face-searches" if search else "/video/face-detections"
        job = client.call("POST", path, body)
        status = _wait(client, job["JobId"], args.quiet)
        if status["JobStatus"] != "SUCCEEDED":
            print(f"{label}: the job failed: {status.get('StatusMessage', '')}", file=sys.stderr)
            return 3
        key_name = "Persons" if search else "Faces"
        entries = _results(client, f"{path}/{job['JobId']}", key_name, "INDEX" if search else None)
    except (Refused, OSError) as exc:
        print(f"{label}: {exc}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps({**status, key_name: entries}, indent=2))
        return 0
    console = Console()
    console.print(people_table(entries) if search else faces_table(entries))
    if status.get("ReviewRequired"):
        console.print(
            "Matches are held for human review (HUMAN-REVIEW); reviews: "
            + ", ".join(status.get("ReviewIds", []) or ["none (no candidate)"])
        )
    return 0

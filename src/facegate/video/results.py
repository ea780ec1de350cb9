"""A finished job's answer: Rekognition's ``Faces`` / ``Persons`` entries, and their pages.

Detection: one ``FaceDetection`` per face per sampled frame. Search: one ``PersonMatch`` per
tracked person per sampled frame they are seen in, each carrying the person's ``Index`` and
the collection faces that person matched (searched once per person, with their best faces).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facegate.gallery.tables import Collection, Face
from facegate.gallery.tokens import TokenSigner
from facegate.video.tables import VideoJobResult
from facegate.video.tracking import Observation, Track

SORTS = ("TIMESTAMP", "INDEX")


def detection_rows(frames: Iterable[tuple[int, list[Observation]]]) -> list[tuple[int, int, dict]]:
    """(timestamp, 0, FaceDetection) for every face of every sampled frame."""
    return [
        (t, 0, {"Timestamp": t, "Face": obs.detail})
        for t, observations in sorted(frames, key=lambda f: f[0])
        for obs in observations
    ]


def person_rows(
    tracks: list[Track], matches: dict[int, list[dict[str, Any]]]
) -> list[tuple[int, int, dict]]:
    """(timestamp, index, PersonMatch) for every sighting of every tracked person."""
    rows = []
    for track in tracks:
        for obs in track.observations:
            rows.append(
                (
                    obs.timestamp_ms,
                    track.index,
                    {
                        "Timestamp": obs.timestamp_ms,
                        "Person": {
                            "Index": track.index,
                            "BoundingBox": obs.detail["BoundingBox"],
                            "Face": obs.detail,
                        },
                        "FaceMatches": matches.get(track.index, []),
                    },
                )
            )
    return rows


def store_rows(s: Session, job_id: str, rows: list[tuple[int, int, dict]]) -> None:
    s.add_all(
        VideoJobResult(
            job_id=job_id,
            row=i,
            timestamp_ms=t,
            person_index=index,
            body=json.dumps(body, separators=(",", ":")),
        )
        for i, (t, index, body) in enumerate(rows)
    )


def page(
    s: Session,
    signer: TokenSigner,
    job_id: str,
    sort_by: str,
    max_results: int,
    next_token: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a job's entries in ``sort_by`` order, and the token of the next page."""
    scope = {"job": job_id, "sort": sort_by}
    offset = int(signer.read(next_token, scope)) if next_token else 0
    order = (
        (VideoJobResult.person_index, VideoJobResult.timestamp_ms, VideoJobResult.row)
        if sort_by == "INDEX"
        else (VideoJobResult.timestamp_ms, VideoJobResult.person_index, VideoJobResult.row)
    )
    bodies = list(
        s.scalars(
            select(VideoJobResult.body)
            .where(VideoJobResult.job_id == job_id)
            .order_by(*order)
            .offset(offset)
            .limit(max_results + 1)
        )
    )
    more = len(bodies) > max_results
    entries = [json.loads(b) for b in bodies[:max_results]]
    return entries, signer.issue(scope, offset + max_results) if more else None


def without_deleted(
    s: Session, organization_id: int, collection: str, persons: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Drop matches of faces deleted since the job ran (erasure, retention, DeleteFaces), so
    that a stored answer never shows a face that is gone."""
    named = {m["Face"]["FaceId"] for p in persons for m in p.get("FaceMatches", [])}
    if not named:
        return persons
    alive = set(
        s.scalars(
            select(Face.face_id)
            .join(Collection, Face.collection_id == Collection.id)
            .where(
                Collection.organization_id == organization_id,
                Collection.name == collection,
                Face.face_id.in_(named),
            )
        )
    )
    if alive == named:
        return persons
    return [
        {**p, "FaceMatches": [m for m in p["FaceMatches"] if m["Face"]["FaceId"] in alive]}
        for p in persons
    ]

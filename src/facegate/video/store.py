"""The video store: uploads streamed to disk, and files named inside the video directory.

An upload is written to a temporary file as it arrives, refused as soon as it passes the
size cap, and accepted only if its header says H.264 in MP4 or MOV (:func:`media.probe`).
A named file must resolve (symbolic links followed) to a path inside the configured video
directory; anything else is refused before the file is opened. Either way the video gets a
row in SQL (its id is the ``S3Object.Name`` a job names) in the same transaction as the
record of the request that added it.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from facegate.audit.log import Record
from facegate.config import VideoSettings
from facegate.db import aware
from facegate.errors import (
    InvalidParameterException,
    InvalidS3ObjectException,
    VideoTooLargeException,
)
from facegate.video.media import VideoError, VideoMetadata, probe
from facegate.video.tables import Video

# The S3Object buckets facegate understands: its own store (Name = a video id) and the
# operator's video directory (Name = a path relative to it).
STORE_BUCKET = "facegate"
DIRECTORY_BUCKET = "library"
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class FootageLink:
    """Footage shared for an agency's request (FOOTAGE-CONSENT)."""

    request_id: int
    camera_id: int
    recorded_from: datetime


# Called with the header's metadata before a video is stored; raises to refuse it.
Admit = Callable[[VideoMetadata], None]


@dataclass(frozen=True)
class NewVideo:
    """A checked video file, about to get its row."""

    id: str
    organization_id: int
    source: str  # one of tables.VIDEO_SOURCES
    location: str  # relative to the store's root (an upload) or to the video directory
    sha256: str
    size_bytes: int
    metadata: VideoMetadata
    added_by: str
    footage: FootageLink | None


def _now() -> datetime:
    return datetime.now(UTC)


class VideoStore:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        root: Path,
        settings: VideoSettings,
        clock: Callable[[], datetime] = _now,
    ):
        self.sessions = sessions
        self.root = root
        self.incoming = root / ".incoming"
        self.settings = settings
        self.clock = clock
        self.incoming.mkdir(parents=True, exist_ok=True)

    # --- adding ------------------------------------------------------------------------------

    def clear_incoming(self) -> None:
        """Remove uploads a stopped server left half-written."""
        for part in self.incoming.glob("*.part"):
            part.unlink(missing_ok=True)

    async def receive(self, chunks: AsyncIterator[bytes], declared: int | None = None) -> Path:
        """Stream an upload into a temporary file; refused past the size cap (nothing kept)."""
        cap = self.settings.max_upload_bytes
        if declared is not None and declared > cap:
            raise VideoTooLargeException(
                f"The video is {declared} bytes; the limit is {cap} bytes."
            )
        temp = self.incoming / f"{uuid.uuid4()}.part"
        size = 0
        try:
            with open(temp, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > cap:
                        raise VideoTooLargeException(
                            f"The video exceeds the upload limit of {cap} bytes."
                        )
                    out.write(chunk)
            if size == 0:
                raise InvalidParameterException("The upload is empty.")
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return temp

    def ingest(
        self,
        temp: Path,
        organization_id: int,
        added_by: str,
        *,
        record: Record,
        footage: FootageLink | None = None,
        admit: Admit | None = None,
    ) -> dict[str, Any]:
        """Check a received file's header and keep it; the temporary file is gone after."""
        try:
            metadata = self._check(temp, admit)
            video_id = str(uuid.uuid4())
            folder = self.root / str(organization_id)
            folder.mkdir(parents=True, exist_ok=True)
            final = folder / f"{video_id}.video"
            digest = _sha256(temp)
            size = temp.stat().st_size
            os.replace(temp, final)
            try:
                new = NewVideo(
                    video_id,
                    organization_id,
                    "upload",
                    f"{organization_id}/{video_id}.video",
                    digest,
                    size,
                    metadata,
                    added_by,
                    footage,
                )
                return self._add(new, record)
            except BaseException:
                final.unlink(missing_ok=True)
                raise
        finally:
            temp.unlink(missing_ok=True)

    def link(
        self,
        name: str,
        organization_id: int,
        added_by: str,
        *,
        record: Record,
        footage: FootageLink | None = None,
        admit: Admit | None = None,
    ) -> dict[str, Any]:
        """Register a file inside the video directory (it stays where it is)."""
        path, relative = self.in_directory(name)
        metadata = self._check(path, admit)
        new = NewVideo(
            str(uuid.uuid4()),
            organization_id,
            "directory",
            relative,
            _sha256(path),
            path.stat().st_size,
            metadata,
            added_by,
            footage,
        )
        return self._add(new, record)

    def in_directory(self, name: str) -> tuple[Path, str]:
        """The file ``name`` names inside the video directory, or a refusal."""
        directory = self.settings.directory
        if directory is None:
            raise InvalidParameterException(
                "No video directory is configured (FACEGATE_VIDEO_DIR); upload the video."
            )
        if not name or "\x00" in name or len(name) > 1024:
            raise InvalidParameterException("A video path must be 1 to 1024 characters.")
        root = directory.resolve()
        path = (root / name).resolve()
        if path == root or not path.is_relative_to(root):
            raise InvalidParameterException(
                "The video path leaves the video directory; name a file inside it."
            )
        if not path.is_file():
            raise InvalidS3ObjectException(f"No video {name!r} in the video directory.")
        return path, str(path.relative_to(root))

    def _check(self, path: Path, admit: Admit | None) -> VideoMetadata:
        try:
            metadata = probe(path)
        except VideoError as exc:
            raise InvalidParameterException(f"Not an accepted video: {exc}") from None
        limit = self.settings.max_duration_seconds
        if metadata.duration_ms > limit * 1000:
            raise VideoTooLargeException(
                f"The video lasts {metadata.duration_ms / 1000:.0f} s; the limit is {limit} s."
            )
        if admit is not None:
            admit(metadata)
        return metadata

    def _add(self, new: NewVideo, record: Record) -> dict[str, Any]:
        footage = new.footage
        row = Video(
            id=new.id,
            organization_id=new.organization_id,
            source=new.source,
            location=new.location,
            sha256=new.sha256,
            size_bytes=new.size_bytes,
            video_metadata=json.dumps(new.metadata.to_dict()),
            added_by=new.added_by,
            added_at=self.clock(),
            footage_request_id=footage.request_id if footage else None,
            camera_id=footage.camera_id if footage else None,
            recorded_from=footage.recorded_from if footage else None,
        )
        with self.sessions.begin() as s:
            s.add(row)
            s.flush()
            out = view(row)
            record(s, out)
        return out

    # --- reading -----------------------------------------------------------------------------

    def get(self, s: Session, organization_id: int, video_id: str) -> Video:
        row = s.get(Video, video_id) if len(video_id) <= 36 else None
        if row is None or row.organization_id != organization_id:
            raise InvalidS3ObjectException(f"No video {video_id!r} in your video store.")
        return row

    @staticmethod
    def named(video: dict[str, Any]) -> tuple[str, str]:
        """The bucket and name a request's ``Video`` parameter gives, checked."""
        obj = video.get("S3Object") if isinstance(video, dict) else None
        if not isinstance(obj, dict) or not obj.get("Name"):
            raise InvalidParameterException(
                "Video needs S3Object {Bucket, Name}: Bucket 'facegate' with a video id from "
                "an upload, or Bucket 'library' with a path inside the video directory."
            )
        bucket = obj.get("Bucket", STORE_BUCKET)
        if bucket not in (STORE_BUCKET, DIRECTORY_BUCKET):
            raise InvalidS3ObjectException(
                f"Unknown bucket {str(bucket)[:64]!r}: use 'facegate' (uploads) or 'library'."
            )
        return bucket, str(obj["Name"])

    def stored(self, organization_id: int, video_id: str) -> Video:
        """A video of the caller's organization, detached from its session."""
        with self.sessions() as s:
            row = self.get(s, organization_id, video_id)
            s.expunge(row)
            return row

    def path_of(self, row: Video) -> Path:
        if row.source == "upload":
            return self.root / row.location
        if self.settings.directory is None:
            raise InvalidS3ObjectException("The video directory is no longer configured.")
        return self.settings.directory / row.location

    def describe(self, organization_id: int, video_id: str) -> dict[str, Any]:
        with self.sessions() as s:
            return view(self.get(s, organization_id, video_id))

    def listing(self, organization_id: int, limit: int = 1000) -> list[dict[str, Any]]:
        with self.sessions() as s:
            rows = s.scalars(
                select(Video)
                .where(Video.organization_id == organization_id)
                .order_by(Video.added_at.desc())
                .limit(limit)
            )
            return [view(r) for r in rows]

    def delete(self, organization_id: int, video_id: str, record: Record) -> dict[str, Any]:
        """Forget a video; an uploaded file is removed from disk (a directory file stays)."""
        with self.sessions.begin() as s:
            row = self.get(s, organization_id, video_id)
            path = self.root / row.location if row.source == "upload" else None
            out = {"VideoId": row.id, "Deleted": True}
            s.delete(row)
            s.flush()
            record(s, out)
        if path is not None:
            path.unlink(missing_ok=True)
        return out


def view(row: Video) -> dict[str, Any]:
    out: dict[str, Any] = {
        "VideoId": row.id,
        "Video": {"S3Object": {"Bucket": STORE_BUCKET, "Name": row.id}},
        "Source": row.source,
        "Sha256": row.sha256,
        "SizeBytes": row.size_bytes,
        "VideoMetadata": VideoMetadata.from_dict(json.loads(row.video_metadata)).to_rekognition(),
        "AddedBy": row.added_by,
        "AddedAt": aware(row.added_at).isoformat() if row.added_at else None,
    }
    if row.source == "directory":
        out["Path"] = row.location
    if row.footage_request_id is not None:
        out["FootageRequestId"] = row.footage_request_id
        out["CameraId"] = row.camera_id
        out["RecordedFrom"] = aware(row.recorded_from).isoformat() if row.recorded_from else None
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()

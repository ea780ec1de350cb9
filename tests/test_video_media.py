"""Reading video files: the header check and sampling, on the real clip (no face models)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from facegate.video.media import VideoError, frames, probe
from facegate.video.segments import segments_of
from tests.conftest import DATA

CLIP = DATA / "face_recognition" / "short_hamilton_clip.mp4"


def test_the_header_says_what_the_video_is():
    meta = probe(CLIP)
    assert (meta.codec, meta.width, meta.height) == ("h264", 640, 360)
    assert 9000 <= meta.duration_ms <= 10100 and 29 < meta.frame_rate < 31


def test_a_file_is_judged_by_its_header_not_its_name(tmp_path: Path):
    fake = tmp_path / "video.mp4"
    fake.write_text("not a video\n" * 50)
    with pytest.raises(VideoError, match="not a readable video"):
        probe(fake)
    empty = tmp_path / "empty.mov"
    empty.write_bytes(b"")
    with pytest.raises(VideoError):
        probe(empty)


@pytest.mark.parametrize("fps", [5.0, 2.7, 7.3, 1.0])
def test_segments_sample_exactly_the_frames_of_the_whole_video(fps: float):
    """A job's segments together take the same frames as one pass over the video (a slot
    that straddled a cut used to be sampled by neither side)."""
    meta = probe(CLIP)
    whole = [f.timestamp_ms for f in frames(CLIP, fps)]
    parts = segments_of(meta.duration_ms, fps)
    pieced = [f.timestamp_ms for start, end in parts for f in frames(CLIP, fps, start, end)]
    assert pieced == whole
    assert len(whole) >= int(meta.duration_ms / 1000 * fps) - 1


def test_segments_cover_the_video_on_whole_slots():
    for duration, fps in ((60027, 5.0), (9176, 2.7), (3_600_000, 5.0), (1500, 5.0)):
        parts = segments_of(duration, fps)
        step = 1000 / fps
        assert parts[0][0] == 0 and parts[-1][1] == duration
        for (a, b), (c, _d) in itertools.pairwise(parts):
            assert b == c and abs(a / step - round(a / step)) < 1e-9

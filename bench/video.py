"""Video jobs end to end: frames per second and real-time ratio on 1 and 2 video workers.

Issue 7's benchmark. It measures the real pipeline on a real server, not a re-implementation:

1. **The video.** tests/data/face_recognition/short_hamilton_clip.mp4 (640x360, H.264,
   29.97 fps, 9.2 s) is too short, so its video packets are remuxed several times one after
   another with shifted timestamps (PyAV, no re-encoding) into a temporary MP4 of
   ``--seconds`` (60 by default; the last copy is cut at a frame boundary: the clip has no
   B-frames, so every packet kept is decodable). The audio track is left out. The result is
   checked with ``facegate.video.media.probe`` (640x360, H.264, the expected duration).
2. **The jobs.** For 1 and 2 video workers (``FACEGATE_VIDEO_WORKERS``; ``FACEGATE_WORKERS=1``
   for requests) a ``tests.server.Server`` is started in a temporary data directory (SQLite),
   with a media-archive use case allowed video-identify, a key, a collection of the cast
   (lin-manuel-miranda.png and alex-lacamoire.png) and the long video uploaded through
   ``POST /v1/videos``. One untimed face detection job on the short clip comes first: the
   first job of a server also starts the video pool, whose processes load the models. Then,
   ``--repeat`` times (3 by default), a StartFaceDetection and a StartFaceSearch job (boto3, as a
   Rekognition client calls them) are timed with the wall clock from the Start call to the
   first ``GET /v1/video/jobs/{JobId}`` that says SUCCEEDED, polled every 0.2 s.
   Sampling and detector are the defaults (``VideoSettings``: 5 frames per second, HOG at
   frame size), passed explicitly so that the environment cannot change them.
3. **Per run**: seconds; frames analysed (``Progress.FramesDone``); frames analysed per
   second; decoded frames per second of video (duration x frame rate / seconds: every frame
   is decoded, one in six analysed); the real-time ratio (duration / seconds); when analysis
   ended (the first poll with every frame done) and so how long tracking, searching and
   storing the answer took; the CPU seconds of the server process and of each of its child
   processes (from /proc), the CPU the rest of the machine used meanwhile and the steal time
   (the hypervisor running something else): a run is ``contended`` when those two were over
   10% of the machine's CPU (another engineer's tests, a busy host).
   Per job kind, the median seconds and the figures computed from it.
4. **Where the time goes**: after the servers have stopped, in this process, the decoding the
   video workers do (``media.frames`` over each of ``jobs.segments_of``'s segments, seeks
   included, no face analysis), so that the workers' CPU can be split into decoding and face
   analysis; and a worker's engine (same settings) on the sampled frames of one copy of the
   clip, without and with descriptors.

Target (issue 7): faster than real time (ratio > 1) on 2 cores at the default sampling for
640x360 video, for both job kinds with 2 workers. The machine's load average is recorded;
``machine_busy`` is true when the 1-minute average was above 1.5 at the start or any timed
run was contended.

Run it (about 7 minutes on 2 idle cores):

    .venv/bin/python bench/video.py                 # writes bench/results/video.json
    .venv/bin/python bench/video.py --quick         # 20 s video, one run each: video-quick.json
    .venv/bin/python bench/video.py --seconds 120 --repeat 5 --output PATH

bench/_common.py holds the helpers it shares with the other benchmarks (the server among them).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import httpx

from _common import (
    BUSY_LOAD,
    DATA,
    REPO,
    add_output_option,
    cpu_model,
    governed_client,
    load_average,
    log,
    now_utc,
    output_path,
    server,
    system,
    workdir,
    write_results,
)
from facegate.config import Settings, VideoSettings
from facegate.video.analysis import engine_settings
from facegate.video.media import VideoMetadata, frames, probe
from facegate.video.segments import segments_of
from facegate.vision.engine import FaceEngine
from facegate.vision.models import dlib_build

if TYPE_CHECKING:
    from tests.server import Server

CLIPS = DATA / "face_recognition"
CLIP = CLIPS / "short_hamilton_clip.mp4"
CAST = ("lin-manuel-miranda", "alex-lacamoire")
OPERATIONS = ("verify", "identify", "video-identify", "enroll", "manage", "detect")
OUTPUT = "video.json"
QUICK_OUTPUT = "video-quick.json"
WORKER_COUNTS = (1, 2)
KINDS = ("detection", "search")
POLL_SECONDS = 0.2
JOB_TIMEOUT = 1800.0
CONTENDED_SHARE = 0.1  # a run is contended when other processes used 10% of the machine's CPU
TICKS = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- helpers


def machine() -> dict[str, Any]:
    return {
        **system(
            {
                "pyav": av.__version__,
                "ffmpeg": ".".join(str(part) for part in av.library_versions["libavcodec"]),
                "dlib_build": dlib_build(),
                "database": "SQLite (the server's default, in the temporary data directory)",
            }
        ),
        "cpu_model": cpu_model(),
    }


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used, or 0.0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15)


def children_of(pid: int) -> list[int]:
    """The live child processes of ``pid`` (the server's worker pools)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(entry.name))
    return sorted(out)


def machine_cpu() -> tuple[float, float]:
    """CPU seconds the whole machine has spent busy (everything but idle, iowait and steal),
    and the seconds the hypervisor ran something else while this machine wanted to (steal)."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]] + [0] * 8
    busy = sum(values[:7]) - values[3] - values[4]  # guest time is already counted in user
    return busy / TICKS, values[7] / TICKS


class CpuMeter:
    """CPU used by the server, each of its children, this process and everything else."""

    def __init__(self, server_pid: int):
        self.server_pid = server_pid
        self.pids = [server_pid, *children_of(server_pid)]
        self.before = {pid: process_cpu(pid) for pid in self.pids}
        self.own = time.process_time()
        self.machine, self.steal = machine_cpu()

    def read(self) -> dict[str, Any]:
        used = {pid: process_cpu(pid) - self.before[pid] for pid in self.pids}
        own = time.process_time() - self.own
        busy, steal = machine_cpu()
        total = busy - self.machine
        server = used.pop(self.server_pid)
        children = sorted(used.values(), reverse=True)
        return {
            "server_process_s": round(server, 2),
            "server_children_s": [round(c, 2) for c in children],
            "this_benchmark_process_s": round(own, 2),
            "other_processes_s": round(max(0.0, total - server - sum(children) - own), 2),
            "stolen_by_hypervisor_s": round(steal - self.steal, 2),
        }


# --------------------------------------------------------------------------- the video


def build_video(source: Path, out_path: Path, seconds: float) -> dict[str, Any]:
    """``source``'s video packets remuxed back to back (shifted timestamps, no re-encoding)
    into ``out_path`` until ``seconds`` of video; what was done."""
    with av.open(str(source)) as src:
        stream = src.streams.video[0]
        base = stream.time_base
        packets = [p for p in src.demux(stream) if p.dts is not None]
        first = packets[0].pts
        span = packets[-1].pts + packets[-1].duration - first  # one copy's length in ticks
    limit = int(seconds / base)  # ticks of output
    copies = math.ceil(limit / span)
    written = 0
    with av.open(str(out_path), "w", format="mp4") as out:
        target = None
        for copy in range(copies):
            with av.open(str(source)) as src:
                stream = src.streams.video[0]
                if target is None:
                    target = out.add_stream_from_template(stream)
                for packet in src.demux(stream):
                    if packet.dts is None:
                        continue
                    shift = copy * span - first
                    pts = packet.pts + shift
                    if pts >= limit:
                        break
                    packet.pts, packet.dts = pts, packet.dts + shift
                    packet.stream = target
                    out.mux(packet)
                    written += 1
    return {
        "source": str(source.relative_to(REPO)),
        "copies": copies,
        "packets": written,
        "method": "the clip's H.264 packets remuxed back to back with shifted timestamps "
        "(PyAV, no re-encoding), the last copy cut at a frame; video only (no audio track)",
    }


def check_video(path: Path, seconds: float) -> VideoMetadata:
    meta = probe(path)
    assert (meta.width, meta.height, meta.codec) == (640, 360, "h264"), meta
    frame_ms = 1000 / meta.frame_rate
    assert abs(meta.duration_ms - seconds * 1000) <= frame_ms + 1, (meta.duration_ms, seconds)
    return meta


# --------------------------------------------------------------------------- the server


class Bench:
    """A server with N video workers: its key, collection and uploaded videos."""

    def __init__(self, running: Server):
        self.server = running
        keys, self.client = governed_client(
            running, "bench-newsroom", purpose="media_archive", operations=OPERATIONS
        )
        self.api_key = f"{keys[0]}:{keys[1]}"
        self.http = httpx.Client(
            base_url=self.server.url, headers={"X-Api-Key": self.api_key}, timeout=120
        )
        self.client.create_collection(CollectionId="cast")
        for name in CAST:
            self.client.index_faces(
                CollectionId="cast",
                Image={"Bytes": (CLIPS / f"{name}.png").read_bytes()},
                ExternalImageId=name,
            )

    def upload(self, path: Path) -> str:
        response = self.http.post(
            "/v1/videos", content=path.read_bytes(), headers={"Content-Type": "video/mp4"}
        )
        assert response.status_code in (200, 201), response.text
        return response.json()["VideoId"]

    def start(self, kind: str, video_id: str, tag: str) -> str:
        video = {"S3Object": {"Bucket": "facegate", "Name": video_id}}
        if kind == "detection":
            return self.client.start_face_detection(Video=video, JobTag=tag)["JobId"]
        return self.client.start_face_search(
            Video=video, CollectionId="cast", FaceMatchThreshold=80, JobTag=tag
        )["JobId"]

    def status(self, job_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/video/jobs/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def answer(self, kind: str, job_id: str) -> dict[str, Any]:
        """What the job found (every page), to check that it did its work."""
        get = self.client.get_face_detection if kind == "detection" else self.client.get_face_search
        key = "Faces" if kind == "detection" else "Persons"
        entries, token = [], None
        while True:
            page = get(JobId=job_id, MaxResults=1000, **({"NextToken": token} if token else {}))
            entries += page[key]
            token = page.get("NextToken")
            if not token:
                break
        if kind == "detection":
            return {"faces_reported": len(entries)}
        people = {e["Person"]["Index"] for e in entries}
        matched = {e["Person"]["Index"] for e in entries if e["FaceMatches"]}
        names = sorted({m["Face"]["ExternalImageId"] for e in entries for m in e["FaceMatches"]})
        return {
            "person_entries": len(entries),
            "people": len(people),
            "people_matched": len(matched),
            "matched_as": names,
        }

    def run(self, kind: str, video_id: str, tag: str) -> dict[str, Any]:
        """One job, timed from the Start call to the poll that sees SUCCEEDED."""
        meter = CpuMeter(self.server.process.pid)
        load = load_average()
        started = time.perf_counter()
        job_id = self.start(kind, video_id, tag)
        polls, first_progress, frames_seen, frames_at = 0, None, -1, None
        while True:
            status = self.status(job_id)
            now = time.perf_counter() - started
            polls += 1
            done = status["Progress"]["FramesDone"]
            if done > 0 and first_progress is None:
                first_progress = now
            if done != frames_seen:
                frames_seen, frames_at = done, now
            if status["JobStatus"] != "IN_PROGRESS":
                break
            if now > JOB_TIMEOUT:
                raise RuntimeError(f"{kind} job {job_id} still running after {now:.0f} s")
            time.sleep(POLL_SECONDS)
        seconds = now
        cpu = meter.read()
        if status["JobStatus"] != "SUCCEEDED":
            raise RuntimeError(f"{kind} job {job_id}: {status}")
        lost = cpu["other_processes_s"] + cpu["stolen_by_hypervisor_s"]
        share = lost / (seconds * (os.cpu_count() or 1))
        return {
            "job_id": job_id,
            "seconds": round(seconds, 3),
            "contended": share > CONTENDED_SHARE,
            "cpu_share_lost_to_others": round(share, 3),
            "frames_analysed": status["Progress"]["FramesDone"],
            "first_frames_done_after_s": round(first_progress or seconds, 2),
            "all_frames_done_after_s": round(frames_at or seconds, 2),
            "tracking_search_store_s": round(seconds - (frames_at or seconds), 2),
            "note": f"*_after_s are poll times (every {POLL_SECONDS} s): the analysis ended at "
            "most one poll interval before all_frames_done_after_s; tracking_search_store_s "
            "(SUCCEEDED minus that) is 0 when both happened within one interval",
            "polls": polls,
            "load_average_1_5_15_before": load,
            "cpu_seconds": cpu,
            "video_metadata": status.get("VideoMetadata", {}),
        }


def figures(seconds: float, frames: int, meta: VideoMetadata) -> dict[str, float]:
    duration = meta.duration_ms / 1000
    return {
        "seconds": round(seconds, 2),
        "frames_analysed": frames,
        "frames_analysed_per_s": round(frames / seconds, 2),
        "video_frames_decoded_per_s": round(duration * meta.frame_rate / seconds, 1),
        "real_time_ratio": round(duration / seconds, 3),
    }


def bench_workers(
    workers: int, args: argparse.Namespace, long_path: Path, meta: VideoMetadata, tmp: Path
) -> dict[str, Any]:
    settings = VideoSettings()
    log(f"{workers} video worker(s): starting a server")
    with server(
        tmp / f"server-{workers}",
        FACEGATE_VIDEO_WORKERS=str(workers),
        FACEGATE_VIDEO_SAMPLE_FPS=f"{settings.sample_fps:g}",
        FACEGATE_VIDEO_DETECTOR=settings.detector,
    ) as running:
        bench = Bench(running)
        try:
            return bench_runs(bench, workers, args, long_path, meta)
        finally:
            bench.http.close()


def bench_runs(
    bench: Bench, workers: int, args: argparse.Namespace, long_path: Path, meta: VideoMetadata
) -> dict[str, Any]:
    """The warm-up job, then ``args.repeat`` timed jobs of each kind."""
    short_id = bench.upload(CLIP)
    long_id = bench.upload(long_path)
    warm = bench.run("detection", short_id, "warm-up")
    log(f"  warm-up detection on the short clip: {warm['seconds']:.1f} s (models loaded)")
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    for round_ in range(args.repeat):
        for kind in KINDS:
            run = bench.run(kind, long_id, f"bench-{kind}-{round_}")
            run.update(figures(run["seconds"], run["frames_analysed"], meta))
            run.update(bench.answer(kind, run["job_id"]))
            runs[kind].append(run)
            log(
                f"  {kind} #{round_ + 1}: {run['seconds']:.1f} s, "
                f"{run['frames_analysed_per_s']:.2f} frames/s analysed, "
                f"real time x{run['real_time_ratio']:.2f} "
                f"(analysis done at {run['all_frames_done_after_s']:.1f} s), "
                f"cpu {run['cpu_seconds']}"
            )
    out: dict[str, Any] = {
        "video_workers": workers,
        "request_workers": 1,
        "warm_up": {
            "what": "one untimed StartFaceDetection on the short clip (9.2 s) first: the "
            "server's first video job starts the video pool, whose processes load the models",
            "seconds": warm["seconds"],
        },
    }
    for kind in KINDS:
        median = statistics.median(r["seconds"] for r in runs[kind])
        frames_done = runs[kind][0]["frames_analysed"]
        out[kind] = {
            "median": figures(median, frames_done, meta),
            "runs_contended": sum(r["contended"] for r in runs[kind]),
            "runs": runs[kind],
        }
    return out


# --------------------------------------------------------------------------- breakdown


def decoding(path: Path, meta: VideoMetadata, sample_fps: float) -> dict[str, Any]:
    """The decoding a job's workers do, without the face analysis: every segment of
    ``jobs.segments_of`` through ``media.frames`` (seek, decode, RGB copies of sampled frames)."""
    segments = segments_of(meta.duration_ms, sample_fps)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    sampled = 0
    for start, end in segments:
        for _frame in frames(path, sample_fps, start, end):
            sampled += 1
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {
        "what": "media.frames over each of jobs.segments_of's segments, in this process, no "
        "face analysis: what a job's workers spend decoding (PyAV threads included in cpu)",
        "segments": len(segments),
        "frames_sampled": sampled,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
    }


def where_time_goes(result: dict[str, Any], decode: dict[str, Any]) -> dict[str, Any]:
    """Per job kind and worker count: the median run's CPU split (workers' decoding vs face
    analysis, the server process, the rest of the machine)."""
    out: dict[str, Any] = {}
    for entry in result["workers"]:
        for kind in KINDS:
            runs = [r for r in entry[kind]["runs"] if not r["contended"]] or entry[kind]["runs"]
            run = sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]
            cpu = run["cpu_seconds"]
            workers_cpu = sum(cpu["server_children_s"])
            out[f"{kind}_{entry['video_workers']}_workers"] = {
                "run": "the median uncontended run by seconds (of an even number, the faster "
                "middle one)",
                "wall_s": run["seconds"],
                "analysis_wall_s": run["all_frames_done_after_s"],
                "tracking_search_store_wall_s": run["tracking_search_store_s"],
                "video_workers_cpu_s": round(workers_cpu, 2),
                "of_which_decoding_cpu_s": decode["cpu_s"],
                "of_which_face_analysis_cpu_s": round(workers_cpu - decode["cpu_s"], 2),
                "server_process_cpu_s": cpu["server_process_s"],
                "other_processes_cpu_s": cpu["other_processes_s"],
                "stolen_by_hypervisor_s": cpu["stolen_by_hypervisor_s"],
                "cpu_per_analysed_frame_ms": round(1000 * workers_cpu / run["frames_analysed"], 1),
                "machine_cpu_used_share": round(
                    (workers_cpu + cpu["server_process_s"] + cpu["this_benchmark_process_s"])
                    / (run["seconds"] * (os.cpu_count() or 1)),
                    3,
                ),
            }
    out["note"] = (
        "video_workers_cpu_s is the CPU of all the server's child processes: the video "
        "workers, plus the idle request worker and multiprocessing's resource tracker (about "
        "0); its decoding part is decoding_only.cpu_s (the same frames decoded in this "
        "process); other_processes_cpu_s is the CPU the rest of the machine used meanwhile "
        "(contention), stolen_by_hypervisor_s the steal time; machine_cpu_used_share is the "
        "server's and this process's CPU over wall time x cpu_count"
    )
    return out


def engine_breakdown(path: Path, meta: VideoMetadata, clip_ms: int, sample_fps: float) -> dict:
    """A video worker's engine (the same settings) on the sampled frames of the first copy of
    the clip, in this process: detection + landmarks + quality, then with descriptors."""
    engine = FaceEngine(engine_settings(Settings()))
    pixels = [f.pixels for f in frames(path, sample_fps, 0, min(clip_ms, meta.duration_ms))]
    engine.analyze_pixels(pixels[0], embed=True)  # warm-up
    out: dict[str, Any] = {
        "what": "FaceEngine.analyze_pixels on the sampled frames of one copy of the clip (the "
        "long video repeats it), in this process with the video workers' settings, one thread "
        "(CPU time): without and with descriptors",
        "frames": len(pixels),
    }
    for embed in (False, True):
        cpu0, faces = time.process_time(), 0
        for frame in pixels:
            faces += len(engine.analyze_pixels(frame, embed=embed).faces)
        per_frame = (time.process_time() - cpu0) / len(pixels) * 1000
        out["with_descriptors" if embed else "detect_landmarks_quality"] = {
            "cpu_ms_per_frame": round(per_frame, 1)
        }
        out["faces_per_frame"] = round(faces / len(pixels), 2)
    detect_ms = out["detect_landmarks_quality"]["cpu_ms_per_frame"]
    whole_ms = out["with_descriptors"]["cpu_ms_per_frame"]
    out["descriptors_share"] = round((whole_ms - detect_ms) / whole_ms, 3)
    return out


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0, help="length of the test video")
    p.add_argument("--repeat", type=int, default=3, help="timed jobs of each kind per server")
    p.add_argument("--quick", action="store_true", help="20 s video, one run of each kind")
    add_output_option(p, OUTPUT, QUICK_OUTPUT)
    args = p.parse_args(argv)
    if args.quick:
        args.seconds, args.repeat = min(args.seconds, 20.0), 1
    args.output = output_path(args, OUTPUT, QUICK_OUTPUT)
    if args.repeat < 1 or args.seconds < 2:
        p.error("--repeat must be at least 1 and --seconds at least 2")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = VideoSettings()
    began = time.perf_counter()
    result: dict[str, Any] = {
        "what": "StartFaceDetection and StartFaceSearch jobs on a real facegate server (HTTP, "
        "boto3, policy point, SQLite, the video pool of engine processes, tracking, search): "
        "wall time from the Start call to JobStatus SUCCEEDED (polled every "
        f"{POLL_SECONDS} s through GET /v1/video/jobs/{{JobId}}), on 1 and 2 video workers",
        "date_utc": now_utc(),
        "machine": machine(),
        "load_average_1_5_15_at_start": load_average(),
        "sampling": {
            "sample_fps": settings.sample_fps,
            "is_default": True,
            "detector": settings.detector,
            "upsample_below": settings.upsample_below,
            "note": "every frame is decoded; one per 1/sample_fps seconds is analysed (HOG "
            "detection at frame size, 68 landmarks, quality, a 128-d descriptor per face)",
        },
        "repeat": args.repeat,
        "median_of": f"{args.repeat} runs of each job kind per worker count; the figures of "
        "'median' are computed from the median seconds",
    }
    log(f"load average {result['load_average_1_5_15_at_start']}, {os.cpu_count()} CPUs")
    with workdir("video") as tmp:
        long_path = tmp / "long.mp4"
        built = build_video(CLIP, long_path, args.seconds)
        meta = check_video(long_path, args.seconds)
        clip = probe(CLIP)
        result["video"] = {
            **built,
            "duration_s": meta.duration_ms / 1000,
            "width": meta.width,
            "height": meta.height,
            "codec": meta.codec,
            "frame_rate": round(meta.frame_rate, 3),
            "frames": round(meta.duration_ms / 1000 * meta.frame_rate),
            "bytes": long_path.stat().st_size,
            "segments": len(segments_of(meta.duration_ms, settings.sample_fps)),
            "source_clip": {
                "duration_s": clip.duration_ms / 1000,
                "frame_rate": round(clip.frame_rate, 3),
                "bytes": CLIP.stat().st_size,
            },
        }
        log(
            f"video: {meta.duration_ms / 1000:.2f} s {meta.width}x{meta.height} {meta.codec} "
            f"{meta.frame_rate:.2f} fps from {built['copies']} copies of the clip"
        )
        result["workers"] = [
            bench_workers(workers, args, long_path, meta, tmp) for workers in WORKER_COUNTS
        ]
        log("decoding alone (no face analysis), for the breakdown")
        decode = decoding(long_path, meta, settings.sample_fps)
        log("the engine alone, on the frames of one copy of the clip, for the breakdown")
        result["engine_only"] = engine_breakdown(
            long_path, meta, clip.duration_ms, settings.sample_fps
        )
    result["decoding_only"] = decode
    result["where_time_goes"] = where_time_goes(result, decode)
    two = next(w for w in result["workers"] if w["video_workers"] == 2)
    ratios = {kind: two[kind]["median"]["real_time_ratio"] for kind in KINDS}
    result["target"] = {
        "what": "faster than real time (video duration / processing time > 1) on 2 cores at "
        "the default sampling for 640x360 video: both job kinds, 2 video workers, median",
        "sample_fps": settings.sample_fps,
        "real_time_ratio_2_workers": ratios,
        "seconds_2_workers": {kind: two[kind]["median"]["seconds"] for kind in KINDS},
        "video_duration_s": meta.duration_ms / 1000,
        "passes": all(r > 1 for r in ratios.values()),
    }
    end_load = load_average()
    result["load_average_1_5_15_at_end"] = end_load
    contended = sum(w[kind]["runs_contended"] for w in result["workers"] for kind in KINDS)
    result["contended_runs"] = contended
    result["machine_busy"] = result["load_average_1_5_15_at_start"][0] > BUSY_LOAD or contended > 0
    result["machine_busy_means"] = (
        f"the 1-minute load average was above {BUSY_LOAD} at the start, or in some timed run "
        f"other processes and steal took more than {CONTENDED_SHARE:.0%} of the machine's CPU "
        "(the load average at the end counts this benchmark's own workers, so it is not used)"
    )
    result["duration_s"] = round(time.perf_counter() - began, 1)
    write_results(args.output, result, indent=1)
    summary = {
        f"{w['video_workers']} workers": {
            kind: {
                key: w[kind]["median"][key]
                for key in ("seconds", "frames_analysed_per_s", "real_time_ratio")
            }
            for kind in KINDS
        }
        for w in result["workers"]
    }
    print(json.dumps({"summary": summary, "target": result["target"]}, indent=1))
    log(f"wrote {args.output} in {result['duration_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

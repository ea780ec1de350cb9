"""``facegate detect IMAGE...``"""

from __future__ import annotations

import argparse

from rich.table import Table

from facegate.cli import tasks
from facegate.cli.batch import run_many
from facegate.cli.output import error_line, json_line, stdout
from facegate.config import load_settings


def run_detect(args: argparse.Namespace) -> int:
    settings = load_settings()
    jobs = [(path, args.detector) for path in args.images]
    failed = 0
    for path, (ok, result) in zip(
        args.images,
        run_many(tasks.analyze_file, jobs, settings, args.workers, "detect"),
        strict=True,
    ):
        if not ok:
            failed += 1
            if args.json:
                json_line({"Image": path, "Error": result})
            else:
                error_line(path, result)
            continue
        if args.json:
            json_line(
                {
                    "Image": path,
                    "FaceDetails": result["FaceDetails"],
                    "QualityVerdicts": result["QualityVerdicts"],
                }
            )
        else:
            _print_table(path, result)
    return 3 if failed else 0


def _print_table(path: str, result: dict) -> None:
    width, height = result["Width"], result["Height"]
    faces = result["FaceDetails"]
    table = Table(title=f"{path}: {width}x{height}, {len(faces)} face(s)", title_justify="left")
    for column in (
        "#",
        "box (x,y,w,h px)",
        "confidence",
        "yaw",
        "pitch",
        "roll",
        "brightness",
        "sharpness",
        "quality",
        "reasons at MEDIUM",
    ):
        table.add_column(column, justify="right" if column not in ("quality",) else "left")
    for i, (face, verdict) in enumerate(zip(faces, result["QualityVerdicts"], strict=True), 1):
        box = face["BoundingBox"]
        pose = face["Pose"]
        table.add_row(
            str(i),
            f"{box['Left'] * width:.0f},{box['Top'] * height:.0f},"
            f"{box['Width'] * width:.0f},{box['Height'] * height:.0f}",
            f"{face['Confidence']:.1f}",
            f"{pose['Yaw']:.0f}",
            f"{pose['Pitch']:.0f}",
            f"{pose['Roll']:.0f}",
            f"{face['Quality']['Brightness']:.0f}",
            f"{face['Quality']['Sharpness']:.0f}",
            verdict["Level"] or "below LOW",
            ", ".join(verdict["Reasons"]["MEDIUM"]) or "-",
        )
    stdout.print(table)

"""``facegate``: the command line. Exit codes: 0 all good, 2 usage, 3 some inputs failed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from facegate import __version__
from facegate.config import DETECTORS

EXIT_OK, EXIT_USAGE, EXIT_INPUT_FAILED = 0, 2, 3


def _engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--detector",
        choices=DETECTORS,
        default=None,
        help="face detector (default: FACEGATE_DETECTOR or blazeface)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes for many images (default 1)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facegate",
        description="Self-hosted face recognition with its responsible-use rules in software.",
    )
    parser.add_argument("--version", action="version", version=f"facegate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("detect", help="find faces: boxes, landmarks, pose, quality")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    _engine_options(p)

    p = sub.add_parser("compare", help="compare the largest face of SOURCE with faces in TARGET")
    p.add_argument("source", nargs="?", metavar="SOURCE")
    p.add_argument("target", nargs="?", metavar="TARGET")
    p.add_argument(
        "--threshold",
        type=float,
        default=80.0,
        metavar="T",
        help="similarity threshold 0-100 (default 80)",
    )
    p.add_argument(
        "--quality-filter", default="NONE", choices=("NONE", "AUTO", "LOW", "MEDIUM", "HIGH")
    )
    p.add_argument(
        "--pairs",
        metavar="PAIRS.csv",
        help="CSV with columns source,target (paths relative to the CSV's folder)",
    )
    p.add_argument("--output", metavar="FILE", help="with --pairs: write the CSV here, not stdout")
    _engine_options(p)

    p = sub.add_parser("calibrate", help="compute a similarity calibration from labelled faces")
    p.add_argument(
        "dataset",
        metavar="DATASET",
        help="folder of identity folders, London-style folder, or CSV path,subject",
    )
    p.add_argument(
        "--groups",
        metavar="FILE",
        help="CSV mapping subject id to group columns (default DATASET/subjects.csv)",
    )
    p.add_argument("--group-by", metavar="COLS", help="comma-separated group columns")
    p.add_argument("--identity", choices=("auto", "folder", "prefix"), default="auto")
    p.add_argument(
        "--cache",
        metavar="DIR",
        default=None,
        help="embedding cache (default: FACEGATE_DATA_DIR/cache/embeddings)",
    )
    p.add_argument("--output", metavar="FILE", default="calibration.json")
    p.add_argument(
        "--per-group",
        action="store_true",
        help="show how far each group's FMR drifts from each target at the global threshold",
    )
    p.add_argument(
        "--quality-filter",
        default="AUTO",
        choices=("NONE", "AUTO", "LOW", "MEDIUM", "HIGH"),
        help="faces below this bar are left out, as IndexFaces would (default AUTO)",
    )
    p.add_argument(
        "--name",
        metavar="VERSION",
        default=None,
        help="version string of the artifact (default: <model>/<dataset folder>)",
    )
    _engine_options(p)

    from facegate.cli.governance import add_parsers as add_governance_parsers

    add_governance_parsers(sub)
    from facegate.cli.accountability import add_parsers as add_accountability_parsers

    add_accountability_parsers(sub)
    from facegate.cli.video import add_parser as add_video_parser

    add_video_parser(sub)
    from facegate.cli.fairness import add_parser as add_fairness_parser

    add_fairness_parser(sub)
    from facegate.cli.footage import add_parser as add_footage_parser

    add_footage_parser(sub)

    p = sub.add_parser("serve", help="start the HTTP service")
    p.add_argument("--host", default=None, help="address (default FACEGATE_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default FACEGATE_PORT or 8080)")
    p.add_argument(
        "--data-dir",
        default=None,
        help="data directory (default FACEGATE_DATA_DIR or ./facegate-data)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="inference processes (default FACEGATE_WORKERS or the number of cores)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "workers", None) is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.command == "detect":
        from facegate.cli.detect import run_detect

        return run_detect(args)
    if args.command == "compare":
        from facegate.cli.compare import run_compare

        if args.pairs and (args.source or args.target):
            parser.error("give either SOURCE TARGET or --pairs, not both")
        if not args.pairs and not (args.source and args.target):
            parser.error("compare needs SOURCE and TARGET, or --pairs PAIRS.csv")
        if not 0 <= args.threshold <= 100:
            parser.error("--threshold must be between 0 and 100")
        return run_compare(args)
    if args.command == "calibrate":
        from facegate.cli.calibrate import run_calibrate

        return run_calibrate(args)
    from facegate.cli.accountability import COMMANDS as ACCOUNTABILITY_COMMANDS
    from facegate.cli.governance import COMMANDS as GOVERNANCE_COMMANDS

    if args.command == "video":
        from facegate.cli.video import run as run_video

        return run_video(args)
    if args.command == "fairness":
        from facegate.cli.fairness import run as run_fairness

        return run_fairness(args)
    if args.command == "footage":
        from facegate.cli.footage import run as run_footage

        return run_footage(args)
    if args.command in ACCOUNTABILITY_COMMANDS:
        from facegate.cli.accountability import run_accountability

        return run_accountability(args)
    if args.command in GOVERNANCE_COMMANDS:
        from facegate.cli.governance import run_governance

        return run_governance(args)
    if args.command == "serve":
        from facegate.cli.serve import run_serve

        return run_serve(args)
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())

"""``luotuo-rpg report DIR``: a self-contained report.html of a run (inline SVG plots)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="write DIR/report.html: timelines, heatmap, conversations, memories, costs")
    report.add_argument("run_dir", type=Path, metavar="DIR", help="the run folder (meta.json, frames.jsonl, …)")
    report.add_argument("--out", type=Path, default=None, help="where to write the page (default DIR/report.html)")
    report.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from luotuo_rpg.report.data import ReportError
    from luotuo_rpg.report.page import write_report

    try:
        path = write_report(args.run_dir, args.out)
    except (ReportError, OSError) as error:
        print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    return 0

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

    talks = sub.add_parser("conversations", help="print every conversation of a run, line by line (Markdown or JSON)")
    talks.add_argument("run_dir", type=Path, metavar="DIR", help="the run folder (meta.json, frames.jsonl)")
    talks.add_argument(
        "--agent",
        action="append",
        default=None,
        metavar="NAME",
        help="only conversations this agent took part in (repeat for several)",
    )
    talks.add_argument("--json", action="store_true", help="one JSON object per conversation")
    talks.add_argument("--out", type=Path, default=None, help="write to this file instead of printing")
    talks.set_defaults(func=cmd_conversations)


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


def cmd_conversations(args: argparse.Namespace) -> int:
    from luotuo_rpg.report.data import ReportError, read_meta
    from luotuo_rpg.report.transcripts import read_transcripts, to_markdown

    try:
        transcripts = read_transcripts(args.run_dir, args.agent)
        language = read_meta(args.run_dir)[1].world.language
    except (ReportError, OSError) as error:
        print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    if args.json:
        text = "".join(talk.model_dump_json() + "\n" for talk in transcripts)
    else:
        text = to_markdown(transcripts, args.run_dir.name, language) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"{len(transcripts)} conversations: {args.out}")
    return 0

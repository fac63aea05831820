"""``luotuo-rpg interview DIR QUESTION``: ask a run's agents a question, in character, from their memories."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from luotuo_rpg.commands.persist import model_flags, run_mind_options_from_flags


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    interview = sub.add_parser(
        "interview",
        help="ask a run's agents a question; they answer in character from their memories",
        description="Restore the run's agents from a checkpoint (the latest, or --at TICK) and ask each the question, "
        "as the Generative Agents paper evaluates its agents. The run folder is not changed.",
    )
    interview.add_argument("run_dir", type=Path, metavar="DIR", help="the run folder (meta.json, checkpoint.json)")
    interview.add_argument("question", help='e.g. "你知道情人节派对的事吗？"')
    interview.add_argument(
        "--agent",
        action="append",
        default=None,
        metavar="NAME",
        help="ask only this agent (repeat for several; default: everyone)",
    )
    interview.add_argument(
        "--at",
        type=int,
        default=None,
        metavar="TICK",
        help="from the checkpoint at or before this tick (default: the latest)",
    )
    interview.add_argument("--json", action="store_true", help="print one JSON object per answer")
    model_flags(interview)
    interview.set_defaults(func=cmd_interview)


def cmd_interview(args: argparse.Namespace) -> int:
    from luotuo_rpg.phrases import phrase
    from luotuo_rpg.sim.checkpoint import CheckpointError
    from luotuo_rpg.sim.interviews import interview_run
    from luotuo_rpg.sim.resume import read_meta

    try:
        meta = read_meta(args.run_dir)
        options = run_mind_options_from_flags(args, meta.llm)
        answers = asyncio.run(
            interview_run(args.run_dir, args.question, agents=args.agent, at=args.at, mind_options=options)
        )
    except (CheckpointError, ValueError, OSError) as error:
        print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    if args.json:
        for answer in answers:
            print(answer.model_dump_json())
        return 0
    if answers:
        first = answers[0]
        print(phrase(meta.language, "interview_question", question=args.question, time=first.time, tick=first.tick))
    for answer in answers:
        print(phrase(meta.language, "interview_answer", name=answer.agent, answer=answer.answer))
    return 0

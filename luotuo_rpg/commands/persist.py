"""``luotuo-rpg resume`` and ``luotuo-rpg fork``: continue a run, or branch a new one, from a checkpoint."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from luotuo_rpg.commands.run import add_llm_arguments, api_key, embedding_flags

if TYPE_CHECKING:
    from luotuo_rpg.llm import MindOptions


def register(sub: argparse._SubParsersAction) -> None:
    note = (
        "Model flags default to the run's own settings from meta.json; keys are never stored there, so an openai "
        "run needs OPENAI_API_KEY (or --api-key) again."
    )
    resume = sub.add_parser(
        "resume", help="continue a run from its last checkpoint (after a crash or to extend it)", description=note
    )
    resume.add_argument("run_dir", type=Path, metavar="DIR", help="the run folder (holds meta.json, checkpoint.json)")
    resume.add_argument(
        "--hours",
        type=float,
        default=None,
        help="new target in game hours from the world's start (default: the run's own)",
    )
    resume.add_argument("--no-progress", action="store_true", help="no progress bar")
    model_flags(resume)
    resume.set_defaults(func=cmd_resume)

    fork = sub.add_parser("fork", help="start a new run from a run's checkpoint at or before a tick", description=note)
    fork.add_argument("run_dir", type=Path, metavar="DIR", help="the run to fork from")
    fork.add_argument(
        "--at", type=int, required=True, metavar="TICK", help="fork at the checkpoint at or before this tick"
    )
    fork.add_argument("--out", type=Path, required=True, metavar="NEW", help="the new run folder")
    fork.add_argument(
        "--hours", type=float, default=None, help="target in game hours from the world's start (default: the parent's)"
    )
    fork.add_argument(
        "--seed", type=int, default=None, help="a different seed from the fork on (default: the parent's)"
    )
    fork.add_argument("--no-progress", action="store_true", help="no progress bar")
    model_flags(fork)
    fork.set_defaults(func=cmd_fork)


def model_flags(parser: argparse.ArgumentParser) -> None:
    add_llm_arguments(parser)
    # Not given means "as the run was": the model settings come from meta.json.
    parser.set_defaults(llm=None)


def run_mind_options_from_flags(args: argparse.Namespace, meta_llm: dict[str, Any]) -> MindOptions:
    """The run's model settings from meta.json, overridden by flags; the API key from env or flags."""
    from luotuo_rpg.llm import MindOptions
    from luotuo_rpg.llm.embeddings.setup import merge_embedding_options

    base = MindOptions.model_validate(meta_llm)
    llm = args.llm or base.llm
    openai: dict[str, Any] = {}
    if llm == "openai":
        from luotuo_rpg.llm.backends.openai_config import OpenAIConfig
        from luotuo_rpg.llm.redact import is_masked

        recorded = dict(base.openai) if base.llm == "openai" else {}
        # Only flags actually given: a None must not erase a recorded setting (from_sources drops unknown keys).
        flags = {k: v for k, v in vars(args).items() if v is not None and v != []}
        if any(is_masked(url) for url in recorded.get("base_urls") or []):
            # meta.json keeps no credentials: the URL that carried them must be given again.
            del recorded["base_urls"]
            if not flags.get("base_url") and not os.environ.get("OPENAI_BASE_URL") and not _config_names_url(args):
                raise ValueError(
                    "the run's base URL carried credentials, which meta.json does not keep: "
                    "pass --base-url again (or OPENAI_BASE_URL, or base_url in --llm-config)"
                )
        openai = OpenAIConfig.from_sources({**recorded, **flags}, args.llm_config, os.environ).model_dump(mode="python")
    local_model = (args.model or base.local_model) if llm == "local" else None
    # Memories live in the space they were embedded in: the recorded embedder, unless flags say otherwise.
    embedding = merge_embedding_options(base.embedding, args.llm_config, embedding_flags(args), api_key(args, openai))
    return base.model_copy(update={"llm": llm, "openai": openai, "local_model": local_model, "embedding": embedding})


def _config_names_url(args: argparse.Namespace) -> bool:
    if args.llm_config is None:
        return False
    from luotuo_rpg.llm.backends.openai_config import read_config_file

    return "base_urls" in read_config_file(args.llm_config)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def cmd_resume(args: argparse.Namespace) -> int:
    from luotuo_rpg.phrases import phrase
    from luotuo_rpg.sim.checkpoint import CheckpointError, load_latest
    from luotuo_rpg.sim.resume import read_meta, resume_async, target_tick
    from luotuo_rpg.sim.summary_text import exit_status, format_summary

    try:
        meta = read_meta(args.run_dir)
        options = run_mind_options_from_flags(args, meta.llm)
        latest = load_latest(args.run_dir)
        finished = latest is not None and (args.run_dir / "summary.json").exists() and latest.tick >= target_tick(meta)
        if finished and args.hours is None and latest is not None:
            print(f"{meta.run_id} is complete at tick {latest.tick}: nothing to resume (pass --hours to extend it)")
            return 0
        where = f"tick {latest.tick} ({latest.time})" if latest else "the start (no checkpoint yet)"
        print(f"{phrase(meta.language, 'brand')} · resuming {meta.run_id} from {where}")
        summary, out = asyncio.run(
            resume_async(args.run_dir, hours=args.hours, mind_options=options, progress=not args.no_progress)
        )
    except (CheckpointError, ValueError, OSError) as error:
        return _fail(str(error).splitlines()[0])
    print(format_summary(summary, out, meta.language))
    return exit_status(summary)


def cmd_fork(args: argparse.Namespace) -> int:
    from luotuo_rpg.phrases import phrase
    from luotuo_rpg.sim.checkpoint import CheckpointError, at_or_before
    from luotuo_rpg.sim.resume import check_fork_target, fork_async, read_meta
    from luotuo_rpg.sim.summary_text import exit_status, format_summary

    try:
        meta = read_meta(args.run_dir)
        options = run_mind_options_from_flags(args, meta.llm)
        if args.seed is not None:
            options = options.model_copy(update={"seed": args.seed})
        check_fork_target(args.run_dir, args.out)
        tick = at_or_before(args.run_dir, args.at)
        print(f"{phrase(meta.language, 'brand')} · forking {meta.run_id} at tick {tick} into {args.out}")
        summary, out = asyncio.run(
            fork_async(
                args.run_dir,
                at=args.at,
                out=args.out,
                hours=args.hours,
                seed=args.seed,
                mind_options=options,
                progress=not args.no_progress,
            )
        )
    except (CheckpointError, ValueError, OSError) as error:
        return _fail(str(error).splitlines()[0])
    print(format_summary(summary, out, meta.language))
    return exit_status(summary)

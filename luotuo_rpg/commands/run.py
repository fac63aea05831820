"""``luotuo-rpg run`` and ``luotuo-rpg validate``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from luotuo_rpg.shipped import default_replays_root, default_world
from luotuo_rpg.world.loader import WorldError

DEFAULT_WORLD = default_world()


def add_llm_arguments(parser: argparse.ArgumentParser) -> None:
    """The model flags shared by run, serve and resume."""
    group = parser.add_argument_group("model")
    group.add_argument(
        "--llm",
        choices=("offline", "openai", "local"),
        default="offline",
        help="offline: embedded rule-based mind (default, no model, no network)",
    )
    group.add_argument(
        "--base-url",
        action="append",
        default=None,
        metavar="URL",
        help="OpenAI-compatible endpoint; repeat to share load (env OPENAI_BASE_URL)",
    )
    group.add_argument("--model", default=None, help="model name (openai) or a model folder / .gguf file (local)")
    group.add_argument("--api-key", default=None, help="API key (better: env OPENAI_API_KEY)")
    group.add_argument("--llm-config", type=Path, default=None, help="YAML/JSON file with backend settings")
    group.add_argument("--max-tokens-total", type=int, default=None, help="stop cleanly after this many tokens")
    group.add_argument("--cache", type=Path, default=None, help="sqlite response cache (reruns cost nothing)")
    group.add_argument(
        "--concurrency",
        dest="max_concurrency",
        type=int,
        default=None,
        help="requests in flight at most, all endpoints together (openai; default 32): a cap on "
        "the per-endpoint limits learnt from latency",
    )
    embed = parser.add_argument_group("embeddings (default: the offline character n-gram hash)")
    embed.add_argument(
        "--embed-model",
        default=None,
        metavar="NAME",
        help="a model on an OpenAI-compatible /v1/embeddings endpoint, e.g. bge-m3 on Ollama",
    )
    embed.add_argument(
        "--embed-base-url", default=None, metavar="URL", help="its endpoint (default: the first --base-url)"
    )
    embed.add_argument(
        "--embed-dim",
        type=int,
        default=None,
        metavar="N",
        help="vector width (default: asked of the server once at start)",
    )
    embed.add_argument(
        "--embed-path",
        type=Path,
        default=None,
        metavar="DIR",
        help="a sentence-transformers model folder (pip install sentence-transformers; never downloaded)",
    )


def embedding_flags(args: argparse.Namespace) -> dict:
    return {"model": args.embed_model, "base_url": args.embed_base_url, "dim": args.embed_dim, "path": args.embed_path}


def mind_options(args: argparse.Namespace, seed: int, language: str = "zh"):
    from luotuo_rpg.llm import MindOptions
    from luotuo_rpg.llm.embeddings.setup import merge_embedding_options

    openai: dict = {}
    if args.llm == "openai":
        from luotuo_rpg.llm.backends.openai_config import OpenAIConfig

        openai = OpenAIConfig.from_sources(args, args.llm_config, os.environ).model_dump(mode="python")
    return MindOptions(
        llm=args.llm,
        seed=seed,
        language=language,
        openai=openai,
        local_model=args.model if args.llm == "local" else None,
        embedding=merge_embedding_options(None, args.llm_config, embedding_flags(args), api_key(args, openai)),
    )


def api_key(args: argparse.Namespace, openai: dict) -> str | None:
    """The key the embedding endpoint gets: the chat backend's, else --api-key or OPENAI_API_KEY."""
    key = openai.get("api_key")
    if key is not None:
        return key.get_secret_value() if hasattr(key, "get_secret_value") else str(key)
    return args.api_key or os.environ.get("OPENAI_API_KEY")


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run a world headless and write a replay")
    run.add_argument("world", nargs="?", type=Path, default=DEFAULT_WORLD, help="world YAML (default: 七侠镇)")
    run.add_argument("--hours", type=float, default=24.0, help="game hours to run (default 24: one day)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--out", type=Path, default=None, help="run folder (default replays/<timestamp>)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument(
        "--checkpoint-minutes",
        type=int,
        default=None,
        metavar="MIN",
        help="game minutes between checkpoints (default 60); `luotuo-rpg resume` continues from the last",
    )
    add_llm_arguments(run)
    run.set_defaults(func=cmd_run)

    validate = sub.add_parser("validate", help="check a world file and say what is wrong")
    validate.add_argument("world", type=Path)
    validate.set_defaults(func=cmd_validate)


def report_world_error(error: WorldError) -> int:
    print(f"world file has {len(error.issues)} problem(s):", file=sys.stderr)
    for issue in error.issues:
        print(f"  {issue}", file=sys.stderr)
    return 2


def cmd_validate(args: argparse.Namespace) -> int:
    from luotuo_rpg.world.loader import load_world_spec

    try:
        spec = load_world_spec(args.world)
    except WorldError as error:
        return report_world_error(error)
    rooms = sum(len(a.rooms) for a in spec.areas)
    print(
        f"{args.world}: ok — {spec.world.name}, {len(spec.areas)} areas, {rooms} rooms, "
        f"{len(spec.personas)} personas, {len(spec.events)} events"
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from luotuo_rpg.config import SimConfig
    from luotuo_rpg.llm import OFFLINE_LABEL
    from luotuo_rpg.phrases import phrase
    from luotuo_rpg.sim.runner import RunOptions, default_run_dir, run_async
    from luotuo_rpg.sim.summary_text import exit_status, format_summary
    from luotuo_rpg.world.loader import load_world_spec

    try:
        spec = load_world_spec(args.world)
    except WorldError as error:
        return report_world_error(error)
    try:
        options = RunOptions(
            hours=args.hours,
            seed=args.seed,
            out=args.out or default_run_dir(default_replays_root()),
            progress=not args.no_progress,
            mind=mind_options(args, args.seed, spec.world.language),
            config=SimConfig(
                **({} if args.checkpoint_minutes is None else {"checkpoint_minutes": args.checkpoint_minutes})
            ),
        )
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    label = OFFLINE_LABEL if args.llm == "offline" else f"{args.llm} backend"
    brand = phrase(spec.world.language, "brand")
    print(f"{brand} · {spec.world.name} · {len(spec.personas)} agents · {args.hours:g} game hours · seed {args.seed}")
    print(f"mind: {label}")
    try:
        summary, out = asyncio.run(run_async(spec, str(args.world), options))
    except (ValueError, FileNotFoundError) as error:  # bad model settings, missing model or adapter folder
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_summary(summary, out, spec.world.language))
    return exit_status(summary)

"""``luotuo-rpg serve``: run a world live (or play a replay) for browsers and other viewers."""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from luotuo_rpg.commands.run import (
    DEFAULT_WORLD,
    add_llm_arguments,
    mind_options,
    report_world_error,
)
from luotuo_rpg.shipped import default_replays_root
from luotuo_rpg.world.loader import WorldError

if TYPE_CHECKING:
    from luotuo_rpg.llm import Mind, MindOptions
    from luotuo_rpg.server.live import RecordingFactory
    from luotuo_rpg.world.spec import WorldSpec

log = logging.getLogger(__name__)
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# Kernel send buffer of every connection (Linux: accepted sockets inherit it from the listener).
# Left to autotuning it grows to megabytes per viewer, all of it stale frames a stalled viewer
# would still have to read; this small, our per-viewer queue notices back-pressure and resyncs.
SEND_BUFFER_BYTES = 64 * 1024


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    serve = sub.add_parser(
        "serve",
        help="run a world live (or play a replay) and serve the browser viewer",
        description="Run WORLD live and serve the viewer at http://HOST:PORT/ — REST under /api, a websocket at /ws. "
        "Watching needs nothing; controls (pause, speed, interview, inject…) need the token printed at start-up.",
    )
    serve.add_argument("world", nargs="?", type=Path, default=DEFAULT_WORLD, help="world YAML (default: 七侠镇)")
    serve.add_argument(
        "--replay",
        type=Path,
        default=None,
        metavar="DIR",
        help="play back a finished run (a folder with meta.json and frames.jsonl) instead",
    )
    serve.add_argument(
        "--replays-root",
        type=Path,
        default=default_replays_root(),
        metavar="DIR",
        help="folder of runs listed at /api/replays and opened with ?replay=NAME (default replays/)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    serve.add_argument(
        "--speed",
        type=float,
        default=5.0,
        metavar="TICKS_PER_S",
        help="ticks per second (default 5; 0 = as fast as possible)",
    )
    serve.add_argument("--paused", action="store_true", help="start paused")
    serve.add_argument(
        "--watch",
        action="store_true",
        help="reload the world when its file changes; a broken edit is reported and the old world keeps running",
    )
    serve.add_argument(
        "--record",
        nargs="?",
        const="",
        default=None,
        metavar="DIR",
        help="write the live run as a run folder (default DIR: replays/<timestamp>): replay, report, "
        "interview, resume or fork it afterwards",
    )
    serve.add_argument(
        "--token",
        default=None,
        help="control token, at least 16 URL-safe characters (default: a random one, printed at start-up)",
    )
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="another name clients reach this server by (the Host header); repeatable. "
        "Default: the bound address, localhost, loopback",
    )
    serve.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="another origin (e.g. https://example.org) whose pages may connect; repeatable. "
        "Default: only the server's own pages",
    )
    serve.add_argument("--seed", type=int, default=0)
    add_llm_arguments(serve)
    serve.set_defaults(func=cmd_serve)


def _bind(host: str, port: int) -> socket.socket:
    """Bind first, so that --port 0 can print the port it got and a busy port fails before any work."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
    sock.bind((host, port))
    # Listening now lets clients queue in the backlog while the app starts up.
    sock.listen(2048)
    return sock


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from luotuo_rpg.llm import OFFLINE_LABEL, build_mind, for_world
    from luotuo_rpg.phrases import phrase
    from luotuo_rpg.server.app import TRANSPORT_MAX_BYTES, ServerSettings, create_app
    from luotuo_rpg.server.live import LiveSession
    from luotuo_rpg.server.replay_source import ReplayError, ReplaySession
    from luotuo_rpg.server.session import Session
    from luotuo_rpg.world.loader import load_world_spec

    if args.speed < 0:
        print("error: --speed must be ≥ 0", file=sys.stderr)
        return 2
    from luotuo_rpg.server.guard import token_problem

    token = args.token or secrets.token_urlsafe(18)
    if (problem := token_problem(token)) is not None:
        print(f"error: --token: {problem}", file=sys.stderr)
        return 2
    session: Session
    if args.replay is not None:
        if args.watch or args.record is not None:
            print("error: --watch and --record are for live worlds; they do not apply to --replay", file=sys.stderr)
            return 2
        try:
            session = ReplaySession(args.replay, speed=args.speed, paused=args.paused)
        except (ReplayError, OSError, ValueError) as error:
            print(f"error: cannot play {args.replay}: {error}", file=sys.stderr)
            return 2
        what = phrase(session.spec.world.language, "serve_replay", run_id=session.meta.run_id)
        mind_label = "replay (no model)"
    else:
        try:
            spec = load_world_spec(args.world)
        except WorldError as error:
            return report_world_error(error)
        try:
            options = mind_options(args, args.seed, spec.world.language)

            def mind_for(world: WorldSpec):  # a reloaded world may change language and adapters
                return build_mind(for_world(options.model_copy(update={"seed": args.seed}), world, args.world))

            recording = None if args.record is None else _recording_factory(args, options)
            session = LiveSession(
                spec, mind_for, world_file=str(args.world), speed=args.speed, paused=args.paused, recording=recording
            )
        except (ValueError, OSError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        what = phrase(spec.world.language, "serve_live")
        mind_label = OFFLINE_LABEL if args.llm == "offline" else f"{args.llm} backend"

    settings = ServerSettings(
        token=token,
        replays_root=args.replays_root,
        speed=args.speed,
        bound_host=args.host,
        allow_hosts=args.allow_host,
        allow_origins=args.allow_origin,
        watch=args.world if args.watch and args.replay is None else None,
    )
    try:
        sock = _bind(args.host, args.port)
    except OSError as error:
        print(f"error: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 2
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    spec_shown = session.spec
    brand = phrase(spec_shown.world.language, "brand")
    print(f"{brand} · {spec_shown.world.name} · {len(spec_shown.personas)} agents · {what} · {args.speed:g} ticks/s")
    print(f"mind: {mind_label}")
    print(f"viewer: http://{shown}:{port}/?token={token}")
    print(f"token: {token}   (controls need it; watching does not)")
    if args.watch and args.replay is None:
        print(f"watching {args.world} for changes")
    recording_now = getattr(session, "recording", None)
    if recording_now is not None:
        print(f"recording: {recording_now.out}   (replay, report, interview, resume or fork it afterwards)")
    if args.host not in _LOOPBACK:
        print(
            f"warning: listening on {args.host}: anyone who can reach it can watch; the token travels unencrypted",
            file=sys.stderr,
        )
        if not args.allow_host:
            print("hint: a browser reaching it by a name needs --allow-host NAME", file=sys.stderr)
    print(f"listening on http://{shown}:{port}", flush=True)

    app = create_app(session, settings)
    config = uvicorn.Config(
        app,
        log_level="warning",
        ws_max_size=TRANSPORT_MAX_BYTES,
        lifespan="on",
        # Frames are small and go to every viewer: compressing each one once per viewer cost a
        # third of the server's time with 100 viewers (benchmarks/ws_fanout.py), for little gain.
        ws_per_message_deflate=False,
        # Our own access lines would be one per REST poll of every viewer.
        access_log=False,
    )
    server = uvicorn.Server(config)
    try:
        asyncio.run(server.serve(sockets=[sock]))
    finally:
        sock.close()
    return 0


def _recording_factory(args: argparse.Namespace, options: MindOptions) -> RecordingFactory:
    """Each world (a --watch reload starts a new one) records into a folder of its own."""
    from luotuo_rpg.llm import for_world
    from luotuo_rpg.server.recording import LiveRecording, free_folder
    from luotuo_rpg.sim.runner import RunOptions, default_run_dir

    def record(world: WorldSpec, mind: Mind) -> LiveRecording:
        out = free_folder(Path(args.record) if args.record else default_run_dir(args.replays_root))
        run_options = RunOptions(
            # Provisional: a clean shutdown writes the game time covered as the target; a killed server
            # leaves this one, so `resume` runs the recording on to one game day.
            hours=24.0,
            seed=args.seed,
            out=out,
            mind=for_world(options.model_copy(update={"seed": args.seed}), world, args.world),
        )
        return LiveRecording(world, str(args.world), mind, run_options)

    return record

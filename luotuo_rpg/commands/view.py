"""``luotuo-rpg view``: the pygame viewer, live from a server or from a run folder."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

VIEWER_EXTRA_HINT = "the pygame viewer needs pygame: pip install 'luotuo-rpg[viewer]'"


def _size(value: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in value.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1280x800, got {value!r}") from None
    if width < 320 or height < 240:
        raise argparse.ArgumentTypeError(f"window too small: {value} (at least 320x240)")
    return width, height


def register(sub: argparse._SubParsersAction) -> None:
    view = sub.add_parser(
        "view",
        help="watch the town in a pygame window, live or from a replay",
        description="Keys: space pause/resume · ←/→ step (shift: 60 ticks) · +/− speed · Tab next agent · "
        "Esc deselect/quit. Click an agent to inspect it.",
    )
    source = view.add_mutually_exclusive_group(required=True)
    source.add_argument("--connect", metavar="URL", help="a running server's websocket, e.g. ws://127.0.0.1:8000/ws")
    source.add_argument("--replay", type=Path, metavar="DIR", help="a run folder (meta.json + frames.jsonl)")
    view.add_argument("--token", default=None, help="the server's control token: lets keys pause/step/speed a live run")
    view.add_argument(
        "--screenshot",
        type=Path,
        metavar="PATH",
        default=None,
        help="draw --frames frames without a window and save a PNG",
    )
    view.add_argument("--frames", type=int, default=60, metavar="N", help="frames drawn for --screenshot (default 60)")
    view.add_argument("--size", type=_size, default=(1280, 800), metavar="WxH", help="window size (default 1280x800)")
    view.add_argument("--start", type=int, default=0, metavar="TICK", help="replay: start at this tick")
    view.add_argument(
        "--speed",
        type=float,
        default=None,
        metavar="TICKS_PER_S",
        help="replay: playback speed (default 20; 0 jumps to the end)",
    )
    view.add_argument("--select", default=None, metavar="NAME", help="show this agent in the side panel")
    view.add_argument("--font", type=Path, default=None, metavar="PATH", help="a font file with Chinese glyphs")
    view.set_defaults(func=cmd_view)


def cmd_view(args: argparse.Namespace) -> int:
    if args.frames < 1:
        print("error: --frames must be at least 1", file=sys.stderr)
        return 2
    if args.font is not None and not args.font.is_file():
        print(f"error: no font file at {args.font}", file=sys.stderr)
        return 2
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    try:
        import pygame  # noqa: F401  (only to say clearly when it is missing)
    except ModuleNotFoundError:
        print(f"error: {VIEWER_EXTRA_HINT}", file=sys.stderr)
        return 2
    from luotuo_rpg.viewer.app import ViewOptions, run_view
    from luotuo_rpg.viewer.playback import ViewerError

    options = ViewOptions(
        replay=args.replay,
        connect=args.connect,
        token=args.token,
        size=args.size,
        screenshot=args.screenshot,
        frames=args.frames,
        start=args.start,
        speed=args.speed,
        select=args.select,
        font=args.font,
    )
    try:
        result = run_view(options)
    except ViewerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if result.screenshot is not None:
        layout = result.layout
        print(
            f"saved {result.screenshot}: tick {result.tick} ({result.time}), {result.frames} frames, "
            f"{layout.window[0]}x{layout.window[1]}, tile {layout.tile} px at {layout.origin[0]},{layout.origin[1]}"
        )
    return 0

"""The ``luotuo-rpg`` command line (also ``python run_sim.py``)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from luotuo_rpg import __version__
from luotuo_rpg.commands import COMMAND_MODULES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="luotuo-rpg",
        description="骆驼RPG — a Chinese-first generative-agents town.",
    )
    parser.add_argument("--version", action="version", version=f"luotuo-rpg {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"luotuo_rpg.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("luotuo_rpg.commands"):
                continue  # a command group not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:
        argv = ["run"]  # `python run_sim.py` alone runs the default town for a day
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("\n中断 (interrupted).", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

"""CLI subcommands, one module per group; each exposes ``register(subparsers)``.

A module's ``register`` adds its parsers and sets ``func`` (args → exit code)
with ``parser.set_defaults(func=...)``. Heavy imports stay inside ``func`` so
``luotuo-rpg --help`` is instant and extras are only needed when used.
"""

from __future__ import annotations

COMMAND_MODULES = (
    "run",
    "authoring",
    "mock_llm",
    "serve",
    "view",
    "persist",
    "interview",
    "report",
)

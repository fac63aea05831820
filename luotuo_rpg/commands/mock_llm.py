"""``luotuo-rpg mock-llm``: an OpenAI-compatible server whose answers come from the offline mind."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "mock-llm",
        help="serve /v1/chat/completions, /v1/embeddings, /v1/models from the offline mind (no model, no spend)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--latency", type=float, default=0.0, metavar="SECONDS", help="added to every chat request")
    parser.add_argument(
        "--slots",
        type=int,
        default=None,
        metavar="N",
        help="work on N requests at a time and queue the rest, like llama.cpp on a laptop (default: all at once)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=cmd_mock_llm)


def cmd_mock_llm(args: argparse.Namespace) -> int:
    import uvicorn

    from luotuo_rpg.llm.offline.mock_answers import OfflineAnswerer
    from luotuo_rpg.llm.offline.mock_server import create_app

    app = create_app(OfflineAnswerer(seed=args.seed), latency_s=args.latency, slots=args.slots)
    print(
        f"mock LLM (offline mind over the OpenAI protocol) on http://{args.host}:{args.port}/v1 — "
        f"try: luotuo-rpg run --llm openai --base-url http://{args.host}:{args.port}/v1 --model luotuo-mock"
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0

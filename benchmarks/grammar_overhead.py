"""What constraining a local model to a request's JSON Schema costs per token on CPU, by library.

For each request of a recorded offline hour of 小小客栈 (each with its own schema: known places,
memory ids), every library compiles the schema and then walks the offline answer token by token
(Qwen2.5 tokenizer, read from the GGUF file): compute the mask of allowed tokens, accept the
token. Reported: compile time per schema, mask time per token (mean and p99), and whether the
library accepted every token of the valid answers. The libraries: llguidance, xgrammar,
outlines-core, lm-format-enforcer (``pip install --no-deps`` each where its pins would move
torch or transformers).

    python benchmarks/grammar_overhead.py [--model PATH.gguf] [--requests 40]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from machine import describe_machine  # noqa: E402

from luotuo_rpg.llm.schemas import request_schema  # noqa: E402
from luotuo_rpg.sim.engine import Simulation  # noqa: E402
from luotuo_rpg.world.loader import load_world_spec  # noqa: E402

DEFAULT_MODEL = Path.home() / ".cache" / "luotuo-rpg" / "models" / "qwen2.5-coder-0.5b-instruct.gguf"
SEPARATORS = (", ", ": ")


def recorded_requests(limit: int) -> list[tuple[Any, str]]:
    sys.path.insert(0, str(REPO / "tests"))
    from doubles import RecordingMind

    mind = RecordingMind()
    sim = Simulation(load_world_spec(REPO / "worlds" / "tiny.yaml"), mind)

    async def go() -> None:
        for _ in range(8640):
            await sim.step()

    asyncio.run(go())
    pairs, seen = [], {}
    for request, output in zip(mind.requests, mind.outputs):
        if seen.get(request.kind, 0) >= max(1, limit // 8):
            continue
        seen[request.kind] = seen.get(request.kind, 0) + 1
        pairs.append((request, json.dumps(output.model_dump(mode="json"), ensure_ascii=False, separators=SEPARATORS)))
    return pairs[:limit]


class LLGuidance:
    name = "llguidance"

    def __init__(self, tokenizer: Any, eos: int) -> None:
        import llguidance
        import llguidance.hf
        import llguidance.torch  # noqa: F401 - fill_next_token_bitmask
        import torch

        self.lib, self.torch = llguidance, torch
        self.tok = llguidance.hf.from_tokenizer(tokenizer, eos_token=eos)
        self.mask = torch.full((1, (self.tok.vocab_size + 31) // 32), -1, dtype=torch.int32)

    def compile(self, schema: dict) -> Any:
        options = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
        grammar = self.lib.LLMatcher.grammar_from_json_schema(json.dumps(schema), defaults=options)
        return self.lib.LLMatcher(self.tok, grammar, log_level=0)

    def step(self, matcher: Any, token: int) -> bool:
        self.lib.torch.fill_next_token_bitmask(matcher, self.mask, 0)
        allowed = bool((int(self.mask[0, token // 32]) >> (token % 32)) & 1)
        matcher.consume_token(token)
        return allowed and not matcher.is_error()


class XGrammar:
    name = "xgrammar"

    def __init__(self, tokenizer: Any, eos: int) -> None:
        import xgrammar

        self.lib = xgrammar
        self.info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, stop_token_ids=[eos])
        self.compiler = xgrammar.GrammarCompiler(self.info, cache_enabled=False)
        self.mask = xgrammar.allocate_token_bitmask(1, self.info.vocab_size)

    def compile(self, schema: dict) -> Any:
        compiled = self.compiler.compile_json_schema(json.dumps(schema), any_whitespace=False, separators=SEPARATORS)
        return self.lib.GrammarMatcher(compiled)

    def step(self, matcher: Any, token: int) -> bool:
        matcher.fill_next_token_bitmask(self.mask)
        allowed = bool((int(self.mask[0, token // 32]) >> (token % 32)) & 1)
        return matcher.accept_token(token) and allowed


class OutlinesCore:
    name = "outlines-core"

    def __init__(self, tokenizer: Any, eos: int) -> None:
        import outlines_core

        self.lib = outlines_core
        vocab: dict[str, list[int]] = {}
        for token, index in tokenizer.get_vocab().items():
            if index != eos:
                text = tokenizer.convert_tokens_to_string([token])
                vocab.setdefault(text, []).append(index)
        self.vocab = outlines_core.Vocabulary(eos, vocab)

    def compile(self, schema: dict) -> Any:
        regex = self.lib.json_schema.build_regex_from_schema(json.dumps(schema), r"")
        return self.lib.Guide(self.lib.Index(regex, self.vocab))

    def step(self, guide: Any, token: int) -> bool:
        allowed = token in guide.get_tokens()
        guide.advance(token)
        return allowed


class FormatEnforcer:
    name = "lm-format-enforcer"

    def __init__(self, tokenizer: Any, eos: int) -> None:
        from lmformatenforcer import JsonSchemaParser, TokenEnforcer
        from lmformatenforcer.integrations.transformers import build_token_enforcer_tokenizer_data

        self.parser_type, self.enforcer_type = JsonSchemaParser, TokenEnforcer
        self.data = build_token_enforcer_tokenizer_data(tokenizer)

    def compile(self, schema: dict) -> Any:
        return [self.enforcer_type(self.data, self.parser_type(schema)), []]

    def step(self, state: Any, token: int) -> bool:
        enforcer, sequence = state
        allowed = token in enforcer.get_allowed_tokens(sequence)
        sequence.append(token)
        return allowed


def measure(library: Any, tokenizer: Any, pairs: list[tuple[Any, str]], budget_s: float) -> dict[str, Any]:
    compile_s, step_s, rejected, answers = [], [], 0, 0
    started = time.perf_counter()
    for request, answer in pairs:
        if time.perf_counter() - started > budget_s:
            break
        t0 = time.perf_counter()
        matcher = library.compile(request_schema(request))
        compile_s.append(time.perf_counter() - t0)
        for token in tokenizer(answer, add_special_tokens=False)["input_ids"]:
            t0 = time.perf_counter()
            ok = library.step(matcher, token)
            step_s.append(time.perf_counter() - t0)
            if not ok:
                rejected += 1
                break
        answers += 1
    steps = sorted(step_s)
    return {
        "answers": answers,
        "tokens": len(steps),
        "compile_ms_mean": round(1000 * statistics.mean(compile_s), 2) if compile_s else None,
        "mask_us_per_token_mean": round(1e6 * statistics.mean(steps), 1) if steps else None,
        "mask_us_per_token_p99": round(1e6 * steps[int(0.99 * (len(steps) - 1))], 1) if steps else None,
        "answers_with_a_rejected_token": rejected,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--budget-s", type=float, default=120.0, help="stop a library after this long")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "grammar_overhead.json")
    args = parser.parse_args()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(args.model.parent), gguf_file=args.model.name)
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pairs = recorded_requests(args.requests)
    results: dict[str, Any] = {}
    for library_type in (LLGuidance, XGrammar, OutlinesCore, FormatEnforcer):
        try:
            t0 = time.perf_counter()
            library = library_type(tokenizer, eos)
            setup = time.perf_counter() - t0
            results[library_type.name] = {
                "setup_s": round(setup, 2),
                **measure(library, tokenizer, pairs, args.budget_s),
            }
        except Exception as exc:  # noqa: BLE001 - a library that cannot run here is reported, not fatal
            results[library_type.name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        print(library_type.name, json.dumps(results[library_type.name]), flush=True)
    report = {"machine": describe_machine(), "model": args.model.name, "requests": len(pairs), "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

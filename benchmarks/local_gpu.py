"""Throughput of the local backend on a GPU, beside plain ``model.generate``.

Random-weight Qwen2-shaped models (no download), prompts of random token ids,
every row forced to exactly ``--new-tokens`` tokens (no end-of-sequence id),
greedy. For each shape and batch size it times ``model.generate`` on the
batch and the same batch sent through ``LocalBackend.chat`` as concurrent
requests (which must come back as one batch), then a mixed four-adapter
batch against a one-adapter batch (LoRA r 16 on q/k/v/o).

Targets (DESIGN.md, ENVIRONMENT.md): at batch 25 the backend reaches ≥ 85 %
of plain generate and ≥ 20× its own batch-1 rate; the mixed-adapter batch
reaches ≥ 70 % of the single-adapter batch (peft's own mixed path: 33 %).

    python benchmarks/local_gpu.py                      # both shapes, batches 1,8,25,100
    python benchmarks/local_gpu.py --shapes 0.5b --batches 1,25
    python benchmarks/local_gpu.py --cpu-smoke          # tiny shape on CPU: checks the script runs

Writes ``benchmarks/results/local_gpu_<card>.md``. Rates differ between
machines of the same kind, so compare numbers within one run only.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SHAPES: dict[str, dict[str, Any]] = {
    # Qwen2.5-0.5B and Qwen2.5-7B dimensions.
    "0.5b": {
        "hidden_size": 896,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "intermediate_size": 4864,
        "vocab_size": 151936,
    },
    "7b": {
        "hidden_size": 3584,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "intermediate_size": 18944,
        "vocab_size": 152064,
    },
    "tiny": {
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 128,
        "vocab_size": 1000,
    },
}
TARGETS = {"backend_vs_plain": 0.85, "batch_speedup": 20.0, "mixed_vs_single": 0.70}
ADAPTERS = 4
ADAPTER_RANK = 16
ADAPTER_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
RESULTS = Path(__file__).resolve().parent / "results"

log = logging.getLogger("benchmarks.local_gpu")


@dataclass
class Row:
    shape: str
    batch: int
    plain: float  # tokens/s
    backend: float  # tokens/s


@dataclass
class AdapterRow:
    shape: str
    batch: int
    single: float  # tokens/s, every row the same adapter
    mixed: float  # tokens/s, rows cycle through ADAPTERS adapters


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default="0.5b,7b", help="comma list of " + ",".join(SHAPES))
    parser.add_argument("--batches", default="1,8,25,100", help="concurrent requests per run, comma list")
    parser.add_argument("--prompt-tokens", type=int, default=768)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--adapter-batch", type=int, default=25, help="batch for the mixed vs single adapter run")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per point (median), after one warm-up")
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny shape on CPU, short prompts; checks the script")
    parser.add_argument("--out", type=Path, help="markdown result file (default results/local_gpu_<card>.md)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    import torch

    if args.cpu_smoke:
        device = "cpu"
        shapes, batches = ["tiny"], [1, 4]
        args.prompt_tokens, args.new_tokens, args.adapter_batch, args.repeats = 32, 8, 4, 1
    else:
        if not torch.cuda.is_available():
            print("no CUDA GPU: skipped (use --cpu-smoke to check the script on CPU)")
            return 0
        device = "cuda"
        shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
        batches = [int(b) for b in args.batches.split(",") if b.strip()]
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        parser.error(f"unknown shape(s) {unknown}; known: {sorted(SHAPES)}")

    card = torch.cuda.get_device_name(0) if device == "cuda" else f"CPU ({platform.processor() or 'unknown'})"
    rows: list[Row] = []
    adapter_rows: list[AdapterRow] = []
    for shape in shapes:
        shape_rows, adapter_row = bench_shape(shape, batches, args, device)
        rows += shape_rows
        adapter_rows.append(adapter_row)
        if device == "cuda":
            gc.collect()
            torch.cuda.empty_cache()  # the last shape's model is gone; hand its memory back before the next

    report = render(card, rows, adapter_rows, args)
    print(report)
    out = args.out
    if out is None and not args.cpu_smoke:
        out = RESULTS / f"local_gpu_{slug(card)}.md"
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report, encoding="utf-8")
        print(f"written to {out}")
    return 0


def bench_shape(shape: str, batches: list[int], args: argparse.Namespace, device: str) -> tuple[list[Row], AdapterRow]:
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    from luotuo_rpg.llm.backends.local.backend import LocalBackend

    dims = SHAPES[shape]
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    config = Qwen2Config(
        **dims,
        max_position_embeddings=max(4096, args.prompt_tokens + args.new_tokens),
        tie_word_embeddings=shape == "0.5b",
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    started = time.perf_counter()
    with torch.device(device):  # initialise on the GPU: a 7B random init on the CPU takes minutes
        model = AutoModelForCausalLM.from_config(config, dtype=dtype).eval()
    # No end-of-sequence id anywhere, so every row runs to exactly new_tokens in both paths.
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    log.warning("%s shape built on %s in %.1f s", shape, device, time.perf_counter() - started)
    tokenizer = id_tokenizer(dims["vocab_size"])
    backend = LocalBackend.from_model(model, tokenizer, max_batch=max(batches + [args.adapter_batch]))

    generator = torch.Generator().manual_seed(1)
    most = max(batches + [args.adapter_batch])
    prompts = torch.randint(10, dims["vocab_size"], (most, args.prompt_tokens), generator=generator)

    def plain(batch: int) -> Callable[[], None]:
        ids = prompts[:batch].to(device)

        def run() -> None:
            with torch.inference_mode():
                out = model.generate(
                    input_ids=ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=args.new_tokens,
                    min_new_tokens=args.new_tokens,
                    do_sample=False,
                    pad_token_id=0,
                )
            assert out.shape == (batch, args.prompt_tokens + args.new_tokens), out.shape

        return run

    def through_backend(batch: int, adapters: list[str | None]) -> Callable[[], None]:
        texts = [" ".join(map(str, row.tolist())) for row in prompts[:batch]]

        def run() -> None:
            before = backend.counters["batches"]
            results = asyncio.run(chat_all(backend, texts, args.new_tokens, adapters))
            assert backend.counters["batches"] == before + 1, "the requests did not form one batch"
            assert all(r.tokens_in == args.prompt_tokens for r in results), [r.tokens_in for r in results]
            assert all(r.tokens_out == args.new_tokens for r in results), [r.tokens_out for r in results]

        return run

    rows = []
    for batch in batches:
        plain_s = timed(plain(batch), args.repeats, device)
        backend_s = timed(through_backend(batch, [None] * batch), args.repeats, device)
        tokens = batch * args.new_tokens
        rows.append(Row(shape, batch, tokens / plain_s, tokens / backend_s))
        log.warning(
            "%s batch %d: plain %.0f tok/s, backend %.0f tok/s",
            shape,
            batch,
            *[tokens / s for s in (plain_s, backend_s)],
        )

    with tempfile.TemporaryDirectory() as folder:
        paths = [write_adapter(model, Path(folder) / f"adapter{i}", seed=100 + i) for i in range(ADAPTERS)]
        for path in paths:
            backend.load_adapter(path)
        batch = args.adapter_batch
        single_s = timed(through_backend(batch, [str(paths[0])] * batch), args.repeats, device)
        mixed_s = timed(through_backend(batch, [str(paths[i % ADAPTERS]) for i in range(batch)]), args.repeats, device)
    tokens = batch * args.new_tokens
    asyncio.run(backend.aclose())
    return rows, AdapterRow(shape, batch, tokens / single_s, tokens / mixed_s)


async def chat_all(backend: object, texts: list[str], new_tokens: int, adapters: list[str | None]) -> list:
    from luotuo_rpg.llm.chat import ChatRequest

    requests = [
        ChatRequest(
            kind="bench",
            messages=[{"role": "user", "content": text}],
            max_tokens=new_tokens,
            json_mode=False,
            adapter=adapter,
        )
        for text, adapter in zip(texts, adapters)
    ]
    return await asyncio.gather(*(backend.chat(r) for r in requests))  # type: ignore[attr-defined]


def timed(run: Callable[[], None], repeats: int, device: str) -> float:
    """Median wall seconds of ``repeats`` runs after one warm-up run (allocator, cuBLAS heuristics)."""
    import torch

    run()
    seconds = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        run()
        if device == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def id_tokenizer(vocab_size: int) -> Any:
    """A real fast tokenizer over the words "0" … "N-1": the text "17 42 99" is exactly those ids.

    The chat template emits the message content only, so a prompt of N ids is N tokens through the backend.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = Tokenizer(models.WordLevel({str(i): i for i in range(vocab_size)}, unk_token="0"))
    words.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    # No pad or eos token: a special token "0" would be matched inside "105". The backend pads with id 0.
    return PreTrainedTokenizerFast(
        tokenizer_object=words, chat_template="{% for m in messages %}{{ m['content'] }}{% endfor %}"
    )


def write_adapter(model: object, folder: Path, seed: int) -> Path:
    """A peft-format LoRA folder with random non-zero A and B (what a trained adapter looks like to the math)."""
    import torch
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}
    for name, module in model.named_modules():  # type: ignore[attr-defined]
        if isinstance(module, torch.nn.Linear) and name.rsplit(".", 1)[-1] in ADAPTER_TARGETS:
            a = torch.randn(ADAPTER_RANK, module.in_features, generator=generator) * 0.02
            b = torch.randn(module.out_features, ADAPTER_RANK, generator=generator) * 0.02
            tensors[f"base_model.model.{name}.lora_A.weight"] = a.to(torch.bfloat16)
            tensors[f"base_model.model.{name}.lora_B.weight"] = b.to(torch.bfloat16)
    folder.mkdir(parents=True)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    config = {
        "peft_type": "LORA",
        "r": ADAPTER_RANK,
        "lora_alpha": 2 * ADAPTER_RANK,
        "target_modules": list(ADAPTER_TARGETS),
        "bias": "none",
    }
    (folder / "adapter_config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def render(card: str, rows: list[Row], adapter_rows: list[AdapterRow], args: argparse.Namespace) -> str:
    import torch
    import transformers

    lines = [
        f"# Local backend throughput — {card}",
        "",
        (
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · torch {torch.__version__} · transformers "
            f"{transformers.__version__} · random-weight Qwen2 shapes · {args.prompt_tokens}-token prompts · "
            f"{args.new_tokens} new tokens per row (forced) · greedy · median of {args.repeats} after a warm-up."
        ),
        "",
        "| shape | batch | plain generate tok/s | LocalBackend tok/s | backend / plain |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.shape} | {r.batch} | {r.plain:,.0f} | {r.backend:,.0f} | {r.backend / r.plain:.0%} |" for r in rows
    ]
    lines += [
        "",
        f"LoRA r {ADAPTER_RANK} on {'/'.join(ADAPTER_TARGETS)}, all through LocalBackend:",
        "",
        f"| shape | batch | one adapter tok/s | {ADAPTERS} adapters mixed tok/s | mixed / single |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {a.shape} | {a.batch} | {a.single:,.0f} | {a.mixed:,.0f} | {a.mixed / a.single:.0%} |" for a in adapter_rows
    ]
    lines += ["", "Ratios against the targets:", ""]
    for shape in dict.fromkeys(r.shape for r in rows):
        by_batch = {r.batch: r for r in rows if r.shape == shape}
        ref = 25 if 25 in by_batch else max(by_batch)
        if ref in by_batch:
            ratio = by_batch[ref].backend / by_batch[ref].plain
            lines.append(
                f"- {shape}: backend / plain at batch {ref}: {ratio:.0%} "
                f"({verdict(ratio, TARGETS['backend_vs_plain'])} ≥ 85 %)"
            )
        if 1 in by_batch and ref != 1:
            speedup = by_batch[ref].backend / by_batch[1].backend
            lines.append(
                f"- {shape}: backend batch {ref} vs its batch 1: {speedup:.1f}× "
                f"({verdict(speedup, TARGETS['batch_speedup'])} ≥ 20×)"
            )
        for a in adapter_rows:
            if a.shape == shape:
                ratio = a.mixed / a.single
                lines.append(
                    f"- {shape}: mixed / single adapter at batch {a.batch}: {ratio:.0%} "
                    f"({verdict(ratio, TARGETS['mixed_vs_single'])} ≥ 70 %)"
                )
    return "\n".join(lines) + "\n"


def verdict(value: float, target: float) -> str:
    return "meets" if value >= target else "misses"


def slug(card: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", card.lower()).strip("-") or "unknown"


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
    sys.exit(main())

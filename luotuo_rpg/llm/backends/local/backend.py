"""The ``local`` backend: a transformers model (plus LoRA adapters) in this process.

Decoding on a GPU is launch-bound: one step for 25 rows costs about what one
row costs (``ENVIRONMENT.md``: 7B shape, 44 tok/s at batch 1, 921 at batch 25).
So the backend never generates for one request alone if others are waiting:
``chat`` puts the request on a queue, a collector task waits a few
milliseconds for the rest of the tick's requests, and the whole group is
generated as one left-padded batch on a single worker thread, which keeps
the event loop free and the model single-threaded. Rows may name different
LoRA adapters; :mod:`luotuo_rpg.llm.backends.local.lora_batch` serves them in the same pass.

The decode loop is our own rather than ``model.generate`` because rows in a
batch differ in temperature, ``max_tokens``, stop strings and adapter, and
each row must stop (and be counted) on its own.

A request's ``json_schema`` is enforced while decoding: :mod:`luotuo_rpg.llm.backends.local.grammar` masks,
at every step, the tokens that would leave the schema (llguidance), so a row can only write
an answer that fits. Without a schema, the structured layer parses and repairs as for any server.

``LocalBackend(path)`` takes a transformers model folder or a ``.gguf`` file (read through the
``gguf`` package, dequantised once into a folder cache beside it: ``gguf_cache.py``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from luotuo_rpg.llm.backends.local.gguf_cache import gguf_folder
from luotuo_rpg.llm.backends.local.grammar import BatchConstraint, Grammar
from luotuo_rpg.llm.backends.local.lora_batch import BASE, MultiLoRA
from luotuo_rpg.llm.chat import ChatRequest, ChatResult, LLMUnavailable

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    request: ChatRequest
    future: asyncio.Future[ChatResult]


@dataclass
class _Row:
    """One request, tokenized and ready for the decode loop."""

    prompt_ids: list[int]
    max_new: int
    temperature: float
    stop: list[str]
    adapter: int  # index into MultiLoRA, or BASE
    schema: dict[str, Any] | None = None


@dataclass
class _Generated:
    token_ids: list[int]  # generated tokens up to and including the one that ended the row
    ended_by_eos: bool


class LocalBackend:
    """:class:`~luotuo_rpg.llm.chat.ChatBackend` over a local transformers causal LM.

    Build it from a model folder (``LocalBackend(path)``; nothing is ever
    downloaded) or from objects already in memory
    (``LocalBackend.from_model(model, tokenizer)``). ``ChatRequest.adapter``
    is a peft LoRA folder; each is loaded once, on first use or via
    :meth:`load_adapter`.

    Token counts: ``tokens_in`` is the templated prompt without padding;
    ``tokens_out`` counts generated tokens up to and including the one that
    ended the row (an end-of-sequence token, or the token that completed a
    stop string), as OpenAI-compatible servers do.
    """

    name = "local"

    def __init__(
        self,
        model_path: str | Path,
        *,
        device: str | None = None,
        dtype: torch.dtype | str | None = None,
        max_batch: int = 64,
        batch_window_s: float = 0.005,
        seed: int = 0,
    ) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder = Path(model_path).expanduser()
        if folder.suffix == ".gguf":
            folder = gguf_folder(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"local model folder {folder} does not exist (hub names are never downloaded)")
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        resolved_dtype = _resolve_dtype(dtype, device)
        started = time.perf_counter()
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            str(folder), dtype=resolved_dtype, device_map=device, local_files_only=True
        )
        log.info(
            "local model %s loaded on %s as %s in %.1f s",
            folder,
            device,
            resolved_dtype,
            time.perf_counter() - started,
        )
        self._setup(model, tokenizer, max_batch=max_batch, batch_window_s=batch_window_s, seed=seed)

    @classmethod
    def from_model(
        cls,
        model: Any,
        tokenizer: Any,
        *,
        max_batch: int = 64,
        batch_window_s: float = 0.005,
        seed: int = 0,
    ) -> LocalBackend:
        """Wrap a model and tokenizer already in memory (tests, notebooks); the model stays where it is."""
        backend = cls.__new__(cls)
        backend._setup(model, tokenizer, max_batch=max_batch, batch_window_s=batch_window_s, seed=seed)
        return backend

    def _setup(self, model: Any, tokenizer: Any, *, max_batch: int, batch_window_s: float, seed: int) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.counters: dict[str, int] = {
            "batches": 0,
            "batched_requests": 0,
            "max_batch_seen": 0,
            "decode_steps": 0,
            "adapters_loaded": 0,
            "generation_errors": 0,
            "constrained_requests": 0,  # rows decoded under their JSON Schema
            "grammar_errors": 0,  # rows whose grammar failed; they finished unconstrained
            "grammar_ms": 0,  # time spent computing and applying masks
        }
        self._grammar: Grammar | None | Literal[False] = None  # False: this tokenizer cannot be constrained
        self._max_batch = max_batch
        self._batch_window_s = batch_window_s
        self._device = next(model.parameters()).device
        self._lora = MultiLoRA(model)
        self._eos_ids = _eos_ids(model, tokenizer)
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = min(self._eos_ids) if self._eos_ids else 0
        self._pad_id: int = int(pad)
        self._generator = torch.Generator(device=self._device).manual_seed(seed)
        forward_params = inspect.signature(model.forward).parameters
        # transformers 5.x renamed past_key_values to cache; older releases only know the old name.
        self._cache_kwarg = "cache" if "cache" in forward_params else "past_key_values"
        self._keep_logits = "logits_to_keep" in forward_params
        # One worker thread: the model is never used from two threads, and batches run in arrival order.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-llm")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Pending] | None = None
        self._collector: asyncio.Task[None] | None = None
        self._closed = False

    # ---------------------------------------------------------------- public API

    async def chat(self, request: ChatRequest) -> ChatResult:
        if self._closed:
            raise LLMUnavailable("local backend is closed")
        loop = asyncio.get_running_loop()
        if self._collector is None or self._collector.done() or self._loop is not loop:
            # First call, or a new event loop (e.g. one per test): the queue belongs to the loop it was made on.
            self._loop = loop
            self._queue = asyncio.Queue()
            self._collector = loop.create_task(self._collect(), name="local-llm-collector")
        assert self._queue is not None
        future: asyncio.Future[ChatResult] = loop.create_future()
        self._queue.put_nowait(_Pending(request, future))
        return await future

    def load_adapter(self, path: str | Path) -> int:
        """Load a LoRA adapter now (e.g. at startup, to fail fast on a bad path); returns its index.

        Runs on the worker thread, after any batch in flight.
        """
        return self._executor.submit(self._load_adapter, str(path)).result()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._collector is not None and not self._collector.done():
            self._collector.cancel()
            try:
                await self._collector
            except asyncio.CancelledError:
                pass
        if self._queue is not None:
            while not self._queue.empty():
                pending = self._queue.get_nowait()
                if not pending.future.done():
                    pending.future.set_exception(LLMUnavailable("local backend closed"))
        # Wait for a batch still on the worker thread without blocking the loop.
        await asyncio.to_thread(self._executor.shutdown, True)

    # ---------------------------------------------------------------- batching

    async def _collect(self) -> None:
        assert self._queue is not None and self._loop is not None
        queue, loop = self._queue, self._loop
        while True:
            batch = [await queue.get()]
            if self._batch_window_s > 0 and queue.qsize() < self._max_batch - 1:
                await asyncio.sleep(self._batch_window_s)  # let the rest of this tick's requests arrive
            while len(batch) < self._max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            batch = [pending for pending in batch if not pending.future.done()]
            if not batch:
                continue
            requests = [pending.request for pending in batch]
            try:
                results = await loop.run_in_executor(self._executor, self._run_batch, requests)
            except Exception as exc:
                # A failed batch (out of memory, a CUDA error) fails its requests; the collector lives on.
                self.counters["generation_errors"] += 1
                log.exception("local generation failed for a batch of %d", len(batch))
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(LLMUnavailable(f"local generation failed: {exc!r}"))
                continue
            for pending, result in zip(batch, results):
                if pending.future.done():
                    continue  # the caller gave up (cancelled); the tokens are spent anyway
                if isinstance(result, BaseException):
                    pending.future.set_exception(result)
                else:
                    pending.future.set_result(result)

    def _load_adapter(self, path: str) -> int:
        before = len(self._lora)
        index = self._lora.load(path)
        if len(self._lora) > before:
            self.counters["adapters_loaded"] += 1
        return index

    def _run_batch(self, requests: list[ChatRequest]) -> list[ChatResult | Exception]:
        """Worker thread: tokenize, generate one batch, detokenize. Per-request problems stay per request."""
        results: list[ChatResult | Exception | None] = [None] * len(requests)
        rows: list[_Row] = []
        row_of: list[int] = []
        for position, request in enumerate(requests):
            try:
                adapter = BASE if request.adapter is None else self._load_adapter(request.adapter)
                prompt_ids = self._prompt_ids(request.messages)
            except Exception as exc:  # noqa: BLE001 - a bad adapter or template fails that request, not the batch
                results[position] = exc
                continue
            rows.append(
                _Row(
                    prompt_ids=prompt_ids,
                    max_new=max(1, request.max_tokens),
                    temperature=request.temperature,
                    stop=[s for s in request.stop if s],
                    adapter=adapter,
                    schema=request.json_schema if request.json_mode else None,
                )
            )
            row_of.append(position)
        if rows:
            self.counters["batches"] += 1
            self.counters["batched_requests"] += len(rows)
            self.counters["max_batch_seen"] = max(self.counters["max_batch_seen"], len(rows))
            generated = self._generate_rows(rows)
            for position, row, out in zip(row_of, rows, generated):
                results[position] = ChatResult(
                    text=self._text(out, row.stop),
                    tokens_in=len(row.prompt_ids),
                    tokens_out=len(out.token_ids),
                )
        return [result for result in results if result is not None]

    # ---------------------------------------------------------------- text

    def _prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            # A base model without a template still gets a readable transcript ending where it should answer.
            text = "\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\nassistant:"
        # The template already holds any BOS the model wants; adding special tokens would double it.
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if not ids:
            raise ValueError("the prompt tokenized to nothing")
        return ids

    def _text(self, out: _Generated, stop: list[str]) -> str:
        ids = out.token_ids[:-1] if out.ended_by_eos else out.token_ids
        text: str = self.tokenizer.decode(ids, skip_special_tokens=True)
        cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
        return text[:cut] if cut >= 0 else text

    # ---------------------------------------------------------------- decoding

    @torch.inference_mode()
    def _generate_rows(self, rows: Sequence[_Row]) -> list[_Generated]:
        """Generate every row in one left-padded batch. Runs on the worker thread."""
        device = self._device
        batch = len(rows)
        width = max(len(row.prompt_ids) for row in rows)
        input_ids = torch.full((batch, width), self._pad_id, dtype=torch.long)
        attention = torch.zeros((batch, width), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, width - len(row.prompt_ids) :] = torch.tensor(row.prompt_ids, dtype=torch.long)
            attention[i, width - len(row.prompt_ids) :] = 1
        input_ids, attention = input_ids.to(device), attention.to(device)
        # Positions count real tokens only, so a left-padded row sees the same positions as when run alone.
        positions = (attention.cumsum(-1) - 1).clamp_(min=0)
        # Without padding the mask says nothing the causal default does not, and building it every step costs
        # kernels (generate drops it too).
        mask: torch.Tensor | None = attention if any(len(row.prompt_ids) < width for row in rows) else None

        temperatures = torch.tensor([max(row.temperature, 0.0) for row in rows], device=device)
        sampling = any(row.temperature > 0 for row in rows)
        # Byte-level tokens can split one CJK character into three, so look back far enough to see a whole stop string.
        stop_window = [3 * max(map(len, row.stop)) + 2 if row.stop else 0 for row in rows]
        out_ids: list[list[int]] = [[] for _ in rows]
        done = [False] * batch
        by_eos = [False] * batch
        steps = max(row.max_new for row in rows)
        constraint = self._constraint(rows)

        cache = _new_cache(self.model)
        kwargs: dict[str, Any] = {self._cache_kwarg: cache, "use_cache": True}
        if self._keep_logits:
            kwargs["logits_to_keep"] = 1  # the prefill would otherwise compute logits for every prompt token
        step_ids, step_pos = input_ids, positions
        adapters = [row.adapter for row in rows]
        lora = self._lora.activate(adapters) if any(a != BASE for a in adapters) else nullcontext()
        with lora:
            for _ in range(steps):
                logits = self.model(input_ids=step_ids, attention_mask=mask, position_ids=step_pos, **kwargs).logits[
                    :, -1, :
                ]
                if constraint is not None:
                    logits = logits.float()
                    constraint.apply(logits, done)
                next_ids = self._pick(logits, temperatures, sampling)
                self.counters["decode_steps"] += 1
                for i, token in enumerate(next_ids.tolist()):
                    if done[i]:
                        continue
                    out_ids[i].append(token)
                    by_eos[i] = token in self._eos_ids
                    complete = constraint is not None and not by_eos[i] and constraint.consume(i, token)
                    done[i] = (
                        by_eos[i]
                        or complete
                        or len(out_ids[i]) >= rows[i].max_new
                        or bool(stop_window[i] and self._hit_stop(out_ids[i], rows[i].stop, stop_window[i]))
                    )
                if all(done):
                    break
                # Finished rows keep decoding their own tokens; their output is ignored and costs ~nothing.
                step_ids = next_ids[:, None]
                if mask is not None:
                    mask = torch.cat([mask, mask.new_ones((batch, 1))], dim=1)
                step_pos = step_pos[:, -1:] + 1
        if constraint is not None:
            self.counters["grammar_errors"] += constraint.errors
            self.counters["grammar_ms"] += round(constraint.seconds * 1000)
        return [_Generated(token_ids=ids, ended_by_eos=eos) for ids, eos in zip(out_ids, by_eos)]

    def _constraint(self, rows: Sequence[_Row]) -> BatchConstraint | None:
        schemas = [row.schema for row in rows]
        if not any(schema is not None for schema in schemas):
            return None
        if self._grammar is None:
            try:
                self._grammar = Grammar(self.tokenizer, self._eos_ids)
            except Exception as exc:  # noqa: BLE001 - no llguidance, or a tokenizer it cannot read
                log.warning("decoding unconstrained: no grammar for this tokenizer (%s: %s)", type(exc).__name__, exc)
                self._grammar = False
        if self._grammar is False:
            self.counters["grammar_errors"] += len([s for s in schemas if s is not None])
            return None
        constraint = self._grammar.constraint(schemas)
        if constraint is not None:
            self.counters["constrained_requests"] += constraint.rows
        return constraint

    def _pick(self, logits: torch.Tensor, temperatures: torch.Tensor, sampling: bool) -> torch.Tensor:
        greedy = logits.argmax(dim=-1)
        if not sampling:
            return greedy
        scaled = logits.float() / temperatures.clamp(min=1e-5)[:, None]
        sampled = torch.multinomial(torch.softmax(scaled, dim=-1), 1, generator=self._generator).squeeze(1)
        return torch.where(temperatures > 0, sampled, greedy)

    def _hit_stop(self, ids: list[int], stop: list[str], window: int) -> bool:
        tail: str = self.tokenizer.decode(ids[-window:], skip_special_tokens=True)
        return any(s in tail for s in stop)


def _resolve_dtype(dtype: torch.dtype | str | None, device: str) -> torch.dtype:
    if dtype is None:
        # bf16 halves memory and doubles speed on GPUs; CPUs are slow at it, so they keep fp32.
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
    if dtype not in names:
        raise ValueError(f"unknown dtype {dtype!r}, expected one of {sorted(names)}")
    return names[dtype]


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    """End-of-sequence ids from the tokenizer and the model's generation config (chat models often list several)."""
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    config = getattr(model, "generation_config", None)
    configured = getattr(config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured is not None:
        ids.update(int(i) for i in configured)
    return frozenset(ids)


def _new_cache(model: Any) -> Any:
    from transformers import DynamicCache

    try:
        return DynamicCache(config=model.config)
    except TypeError:  # transformers releases before the config argument
        return DynamicCache()

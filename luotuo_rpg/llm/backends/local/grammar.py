"""Decoding under a JSON Schema for the local backend: llguidance masks, per step and per row,
every token that would leave the schema.

Why llguidance (``benchmarks/grammar_overhead.py``, CPU, Qwen2.5 vocabulary of 151,665 tokens):
its mask for one row costs tens of microseconds against a forward pass of tens of milliseconds,
it compiles a schema in about a millisecond with no per-schema warm-up (every request here has
its own schema: known places, memory ids), it takes a Hugging Face fast tokenizer as is, and it
is one wheel without torch or transformers pins. The mask is applied with plain tensor ops, not
llguidance's ``torch.compile`` kernel, which would compile on first use on a CPU.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import torch

log = logging.getLogger(__name__)

# Compact JSON with the separators Qwen-style models write by themselves; no free whitespace,
# so a looping model cannot pad an answer with blank lines until max_tokens.
_JSON_OPTIONS = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}


class Grammar:
    """What one model's tokenizer needs to build matchers (built once: ~1 s for a 150k vocabulary)."""

    def __init__(self, tokenizer: Any, eos_ids: frozenset[int]) -> None:
        import llguidance
        import llguidance.hf
        import llguidance.torch  # noqa: F401 - fill_next_token_bitmask (its compiled kernel is not used)

        self._llguidance = llguidance
        self.tokenizer = llguidance.hf.from_tokenizer(tokenizer, eos_token=sorted(eos_ids) or None)
        self.vocab = self.tokenizer.vocab_size
        self._bits = torch.arange(32, dtype=torch.int32)

    def constraint(self, schemas: list[dict[str, Any] | None]) -> BatchConstraint | None:
        if not any(schema is not None for schema in schemas):
            return None
        return BatchConstraint(self, schemas)


class BatchConstraint:
    """One matcher per constrained row of a batch; rows without a schema are left free."""

    def __init__(self, grammar: Grammar, schemas: list[dict[str, Any] | None]) -> None:
        self.grammar = grammar
        self.errors = 0
        self.seconds = 0.0
        lib = grammar._llguidance
        self.matchers: list[Any | None] = []
        for schema in schemas:
            if schema is None:
                self.matchers.append(None)
                continue
            source = lib.LLMatcher.grammar_from_json_schema(json.dumps(schema), defaults=_JSON_OPTIONS)
            matcher = lib.LLMatcher(grammar.tokenizer, source, log_level=0)
            if matcher.is_error():
                log.warning("schema not usable as a grammar (%s); decoding that row free", matcher.get_error())
                self.errors += 1
                matcher = None
            self.matchers.append(matcher)
        self._mask = torch.full((len(schemas), (grammar.vocab + 31) // 32), -1, dtype=torch.int32)

    @property
    def rows(self) -> int:
        return sum(m is not None for m in self.matchers)

    def apply(self, logits: torch.Tensor, done: list[bool]) -> None:
        """Set to -inf, in place, every logit a constrained row's schema rules out."""
        started = time.perf_counter()
        active = [i for i, m in enumerate(self.matchers) if m is not None and not done[i]]
        if active:
            lib = self.grammar._llguidance
            for i in active:
                lib.torch.fill_next_token_bitmask(self.matchers[i], self._mask, i)
            rows = torch.tensor(active)
            bits = ((self._mask[rows].unsqueeze(-1) >> self.grammar._bits) & 1).bool().flatten(1)
            width = min(bits.shape[1], logits.shape[1])
            allowed = torch.zeros((len(active), logits.shape[1]), dtype=torch.bool)
            allowed[:, :width] = bits[:, :width]
            view = logits[rows.to(logits.device)]
            view.masked_fill_(~allowed.to(logits.device), float("-inf"))
            logits[rows.to(logits.device)] = view
        self.seconds += time.perf_counter() - started

    def consume(self, row: int, token: int) -> bool:
        """Advance row ``row`` by ``token``; True once its schema is complete (nothing more to write)."""
        matcher = self.matchers[row]
        if matcher is None:
            return False
        started = time.perf_counter()
        matcher.consume_token(token)
        if matcher.is_error():
            log.warning("grammar error after token %d (%s); the row goes on free", token, matcher.get_error())
            self.errors += 1
            self.matchers[row] = None
            stopped = False
        else:
            stopped = bool(matcher.is_stopped())
        self.seconds += time.perf_counter() - started
        return stopped

"""Many LoRA adapters served in one batched forward pass.

Each persona may name its own LoRA adapter, and the local backend packs
concurrent requests into one batch regardless of adapter. peft can do that
(``generate(adapter_names=[...])``), but it loops over adapters and masks
rows, which measured 33 % of single-adapter speed on an H200
(``ENVIRONMENT.md``). Here every row carries an adapter index and the LoRA
delta for the whole batch is a handful of dense kernels per target layer:

- **decode** (one new token per row): the batch's active adapters are
  concatenated along the rank axis once per batch, ``A_cat (in, R)`` and
  ``B_cat (R, out)``; each step computes ``x @ A_cat``, zeroes the columns
  that belong to other rows' adapters with a precomputed mask, and adds
  ``@ B_cat`` to the base output. Three kernels per layer whatever the mix;
  the wasted columns cost nothing in a launch-bound decode step.
- **prefill** (whole prompts): the masked form would multiply every token
  by every active adapter, so rows gather their own (rank-padded) ``A``/``B``
  and use ``bmm``; this runs once per batch.
- a batch where every row uses the same adapter skips the mask entirely.

Adapters are read once from a peft ``save_pretrained`` folder
(``adapter_config.json`` + ``adapter_model.safetensors``) into per-layer
tensors on the model's device, with peft's scale (``alpha / r`` or
``alpha / sqrt(r)`` for rsLoRA, per-layer ``rank_pattern``/``alpha_pattern``)
folded into ``B``. Adapters of different rank and different target layers
mix freely: a row whose adapter does not touch a layer gets a zero delta
there. Variants that change the math (DoRA, LoRA bias, modules_to_save,
embedding LoRA, aLoRA, …) are refused at load time rather than served wrong.

The model is left untouched: hooks are attached only while a batch that
uses adapters runs (:meth:`MultiLoRA.activate`), so base-only batches pay
nothing.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

BASE = -1
"""Adapter index of a row that runs the plain base model."""

_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])\.weight$")

# Config flags whose truthy value means weights or math we do not reproduce.
_UNSUPPORTED_FLAGS = (
    "use_dora",
    "lora_bias",
    "fan_in_fan_out",
    "modules_to_save",
    "trainable_token_indices",
    "target_parameters",
    "alora_invocation_tokens",
    "layer_replication",
    "use_bdlora",
)


class AdapterError(ValueError):
    """An adapter folder that is missing, malformed, or uses an unsupported LoRA variant."""


@dataclass(frozen=True)
class _LayerWeights:
    a: torch.Tensor  # (in_features, r): transposed so that the delta is (x @ a) @ b
    b: torch.Tensor  # (r, out_features), scale folded in

    @property
    def rank(self) -> int:
        return self.a.shape[1]


@dataclass(frozen=True)
class LoadedAdapter:
    path: str
    layers: dict[str, _LayerWeights]
    """Target module name (as in ``model.named_modules()``) → weights."""

    @property
    def max_rank(self) -> int:
        return max(w.rank for w in self.layers.values())


@dataclass
class _LayerPlan:
    """How one target layer adds the LoRA delta for the current batch."""

    a_cat: torch.Tensor  # (in, R): active adapters side by side
    b_cat: torch.Tensor  # (R, out)
    uniform: bool  # every row uses the one adapter in a_cat: no mask, no gather
    col_mask: torch.Tensor | None = None  # (B, R): 1 where the column is the row's adapter
    a_pad: torch.Tensor | None = None  # (n_active + 1, in, r_max), slot 0 all zeros
    b_pad: torch.Tensor | None = None  # (n_active + 1, r_max, out)
    row_slot: torch.Tensor | None = None  # (B,) index into a_pad/b_pad
    handles: list[torch.utils.hooks.RemovableHandle] = field(default_factory=list)

    def delta_into(self, x: torch.Tensor, out: torch.Tensor) -> None:
        """Add this batch's LoRA delta to ``out`` (the base layer's output) in place."""
        n_out = out.shape[-1]
        if self.uniform:
            flat_x = x.reshape(-1, x.shape[-1])
            out.view(-1, n_out).addmm_(flat_x @ self.a_cat, self.b_cat)
            return
        batch = x.shape[0]
        tokens = x.numel() // (batch * x.shape[-1])
        if tokens == 1:
            assert self.col_mask is not None
            h = x.reshape(batch, -1) @ self.a_cat
            h.mul_(self.col_mask)
            out.view(batch, n_out).addmm_(h, self.b_cat)
            return
        assert self.a_pad is not None and self.b_pad is not None and self.row_slot is not None
        x3 = x.reshape(batch, tokens, x.shape[-1])
        xa = torch.bmm(x3, self.a_pad[self.row_slot])
        out.view(batch, tokens, n_out).baddbmm_(xa, self.b_pad[self.row_slot])


class MultiLoRA:
    """LoRA adapters for one model, applied per row of a batch.

    ``load(path)`` returns the adapter's index; ``activate(indices)`` (one
    index per batch row, :data:`BASE` for the plain model) applies them for
    the forward passes run inside the ``with`` block. Not thread-safe: the
    caller runs loads and batches on one thread (the local backend's worker).
    """

    def __init__(self, model: nn.Module) -> None:
        self._model = model
        self._linears: dict[str, nn.Linear] = {
            name: module for name, module in model.named_modules() if isinstance(module, nn.Linear)
        }
        self._adapters: list[LoadedAdapter] = []
        self._by_path: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._adapters)

    def adapter(self, index: int) -> LoadedAdapter:
        return self._adapters[index]

    def load(self, path: str | Path) -> int:
        """Load a peft LoRA folder once; later calls with the same path return the same index."""
        folder = Path(path).expanduser().resolve()
        key = str(folder)
        if key in self._by_path:
            return self._by_path[key]
        layers = self._read(folder)
        self._adapters.append(LoadedAdapter(path=key, layers=layers))
        index = len(self._adapters) - 1
        self._by_path[key] = index
        ranks = sorted({w.rank for w in layers.values()})
        log.info("LoRA adapter %d loaded from %s: %d layers, rank %s", index, key, len(layers), ranks)
        return index

    def _read(self, folder: Path) -> dict[str, _LayerWeights]:
        config_file = folder / "adapter_config.json"
        if not config_file.is_file():
            raise AdapterError(f"{folder}: no adapter_config.json (expected a peft save_pretrained folder)")
        try:
            config = json.loads(config_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise AdapterError(f"{config_file}: not valid JSON ({exc})") from exc
        if config.get("peft_type", "LORA") != "LORA":
            raise AdapterError(f"{config_file}: peft_type {config.get('peft_type')!r}, expected 'LORA'")
        if str(config.get("bias", "none")) != "none":
            raise AdapterError(f"{config_file}: bias={config['bias']!r} is not supported, expected 'none'")
        for flag in _UNSUPPORTED_FLAGS:
            if config.get(flag):
                raise AdapterError(f"{config_file}: {flag}={config[flag]!r} is not supported")
        tensors = _read_tensors(folder)

        pairs: dict[str, dict[str, torch.Tensor]] = {}
        for key, tensor in tensors.items():
            match = _KEY.match(key)
            if match is None:
                raise AdapterError(
                    f"{folder}: tensor {key!r} is not a LoRA A/B weight of a linear layer "
                    "(only plain LoRA on nn.Linear is supported)"
                )
            pairs.setdefault(match["module"], {})[match["ab"]] = tensor
        if not pairs:
            raise AdapterError(f"{folder}: the adapter holds no LoRA weights")

        use_rslora = bool(config.get("use_rslora", False))
        default_alpha = float(config.get("lora_alpha", config.get("r", 8)))
        alpha_pattern: dict[str, float] = config.get("alpha_pattern") or {}
        layers: dict[str, _LayerWeights] = {}
        for name, ab in sorted(pairs.items()):
            if set(ab) != {"A", "B"}:
                raise AdapterError(f"{folder}: layer {name!r} has lora_{''.join(ab)} but not both A and B")
            linear = self._linears.get(name)
            if linear is None:
                raise AdapterError(f"{folder}: layer {name!r} is not a linear layer of this model")
            a, b = ab["A"], ab["B"]
            rank = a.shape[0]
            if a.shape != (rank, linear.in_features) or b.shape != (linear.out_features, rank):
                raise AdapterError(
                    f"{folder}: layer {name!r} has A {tuple(a.shape)} and B {tuple(b.shape)}, "
                    f"expected ({rank}, {linear.in_features}) and ({linear.out_features}, {rank}): "
                    "was the adapter trained for another model?"
                )
            alpha = float(alpha_pattern.get(_pattern_key(alpha_pattern, name), default_alpha))
            # Same scale as peft's LoraLayer.update_layer; folded into B so the forward has no extra multiply.
            scale = alpha / math.sqrt(rank) if use_rslora else alpha / rank
            device, dtype = linear.weight.device, linear.weight.dtype
            layers[name] = _LayerWeights(
                a=a.to(torch.float32).t().contiguous().to(device=device, dtype=dtype),
                b=(b.to(torch.float32) * scale).t().contiguous().to(device=device, dtype=dtype),
            )
        return layers

    @contextmanager
    def activate(self, row_adapters: Sequence[int]) -> Iterator[None]:
        """Apply each row's adapter (or none, :data:`BASE`) to forwards run inside the block.

        The batch size of every forward inside the block must equal
        ``len(row_adapters)``; rows keep their order.
        """
        for index in row_adapters:
            if index != BASE and not 0 <= index < len(self._adapters):
                raise IndexError(f"adapter index {index} is not loaded ({len(self._adapters)} loaded)")
        plans = self._plans(list(row_adapters))
        try:
            for name, plan in plans.items():
                plan.handles.append(self._linears[name].register_forward_hook(_hook_for(plan)))
            yield
        finally:
            for plan in plans.values():
                for handle in plan.handles:
                    handle.remove()

    def _plans(self, rows: list[int]) -> dict[str, _LayerPlan]:
        active = sorted({index for index in rows if index != BASE})
        if not active:
            return {}
        layer_names = sorted({name for index in active for name in self._adapters[index].layers})
        plans: dict[str, _LayerPlan] = {}
        for name in layer_names:
            linear = self._linears[name]
            device, dtype = linear.weight.device, linear.weight.dtype
            here = [index for index in active if name in self._adapters[index].layers]
            weights = [self._adapters[index].layers[name] for index in here]
            a_cat = torch.cat([w.a for w in weights], dim=1)
            b_cat = torch.cat([w.b for w in weights], dim=0)
            if len(here) == 1 and all(index == here[0] for index in rows):
                plans[name] = _LayerPlan(a_cat=a_cat, b_cat=b_cat, uniform=True)
                continue
            # Column ranges of each active adapter inside a_cat, and each row's slot (0 = no delta).
            offsets: dict[int, tuple[int, int]] = {}
            start = 0
            for index, w in zip(here, weights):
                offsets[index] = (start, start + w.rank)
                start += w.rank
            col_mask = torch.zeros(len(rows), start, dtype=dtype)
            row_slot = torch.zeros(len(rows), dtype=torch.long)
            for row, index in enumerate(rows):
                if index in offsets:
                    lo, hi = offsets[index]
                    col_mask[row, lo:hi] = 1
                    row_slot[row] = here.index(index) + 1
            r_max = max(w.rank for w in weights)
            a_pad = torch.zeros(len(here) + 1, linear.in_features, r_max, device=device, dtype=dtype)
            b_pad = torch.zeros(len(here) + 1, r_max, linear.out_features, device=device, dtype=dtype)
            for slot, w in enumerate(weights, start=1):
                a_pad[slot, :, : w.rank] = w.a
                b_pad[slot, : w.rank, :] = w.b
            plans[name] = _LayerPlan(
                a_cat=a_cat,
                b_cat=b_cat,
                uniform=False,
                col_mask=col_mask.to(device),
                a_pad=a_pad,
                b_pad=b_pad,
                row_slot=row_slot.to(device),
            )
        return plans


def _hook_for(plan: _LayerPlan):
    def hook(module: nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        plan.delta_into(args[0], output)
        return output

    return hook


def _pattern_key(pattern: dict[str, float], module_name: str) -> str:
    """peft's ``get_pattern_key``: a pattern key matches the module name or a dotted suffix of it."""
    for key in pattern:
        if re.match(rf"(.*\.)?({key})$", module_name):
            return key
    return module_name


def _read_tensors(folder: Path) -> dict[str, torch.Tensor]:
    safetensors_file = folder / "adapter_model.safetensors"
    if safetensors_file.is_file():
        from safetensors.torch import load_file

        return load_file(str(safetensors_file), device="cpu")
    bin_file = folder / "adapter_model.bin"
    if bin_file.is_file():
        # Older peft saves; weights_only keeps a pickle from running code.
        return torch.load(bin_file, map_location="cpu", weights_only=True)
    raise AdapterError(f"{folder}: no adapter_model.safetensors (or adapter_model.bin)")

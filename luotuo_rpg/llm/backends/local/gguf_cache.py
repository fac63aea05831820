"""A ``.gguf`` file as a transformers model folder: dequantised once, then loaded like any folder.

transformers reads GGUF through the ``gguf`` package, but dequantising every tensor takes
about 80 s for a 0.5B model on two cores; saving the result once (bf16 safetensors, half the
size of fp32 and exact enough next to 5-bit weights) makes every later load a few seconds.
The cache lives outside any checkout: ``$LUOTUO_CACHE`` or ``~/.cache/luotuo-rpg``.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def cache_root() -> Path:
    return Path(os.environ.get("LUOTUO_CACHE") or Path.home() / ".cache" / "luotuo-rpg")


def gguf_folder(path: Path, root: Path | None = None) -> Path:
    """The folder holding ``path`` dequantised; made on first use (keyed by name and size)."""
    path = path.expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"GGUF file {path} does not exist")
    folder = (root or cache_root()) / "gguf" / f"{path.stem}-{path.stat().st_size}"
    if (folder / "DONE").exists():
        return folder
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    log.info("dequantising %s into %s (once)", path, folder)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model: Any = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    # The weights are plain tensors now; the GGUF "quantizer" left on the model only blocks saving.
    model.hf_quantizer = None  # type: ignore[assignment]  # transformers types it as always set
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.to(torch.bfloat16).save_pretrained(partial)  # type: ignore[arg-type]  # to() takes a dtype too
    tokenizer.save_pretrained(partial)
    (partial / "DONE").write_text(f"{path.name}\n", encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)  # a killed conversion leaves only the .partial folder, never a half cache
    log.info("dequantised %s in %.0f s", path.name, time.perf_counter() - started)
    return folder

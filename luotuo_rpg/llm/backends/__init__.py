"""Backends that answer chat requests: any OpenAI-compatible server (``openai_compatible``, with its
``openai_config``, ``retry`` policy, ``concurrency_limit``, ``response_format`` dialects, ``response_cache``
and ``preflight`` checks) and a local transformers model (``local/``, the only place torch is imported)."""

"""Embedding memories: the hashed character n-gram embedder needing no model (``hashed``), OpenAI-compatible
and sentence-transformers embedders (``embedders``), and choosing one for a run (``setup``)."""

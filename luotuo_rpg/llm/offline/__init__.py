"""The offline mind (no language model: deterministic rules over the personas), and the mock
OpenAI-compatible server that answers with it over real HTTP (``mock_answers``, ``mock_server``)."""

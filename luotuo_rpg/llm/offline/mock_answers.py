"""Answers for the mock server: the offline mind behind the real HTTP protocol.

The prompt a client sends carries its request as a JSON block
(``prompts.render``); the offline mind answers that request, and the answer
goes back as the JSON text a model would have written. A repair prompt gets
the same answer again (the offline mind is always valid).
"""

from __future__ import annotations

from typing import Any

from luotuo_rpg.llm.offline.mind import OfflineMind, dump_answer
from luotuo_rpg.llm.prompts import recover_request


class OfflineAnswerer:
    def __init__(self, seed: int = 0):
        self.minds = {lang: OfflineMind(seed=seed, language=lang) for lang in ("zh", "en")}

    def __call__(self, model: str, messages: list[dict[str, Any]]) -> str:
        request = recover_request(messages)
        if request is None:
            # A prompt that is not ours (a user trying the server by hand).
            return '{"answer": "我是骆驼RPG的离线模拟模型，只会按规则回答。"}'
        return dump_answer(self.minds[request.language].answer(request))

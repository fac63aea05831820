"""What an agent's think phase hands to the engine: intents, applied in agent-id order."""

from __future__ import annotations

from pydantic import BaseModel


class ActionIntent(BaseModel):
    activity: str
    place: str
    emoji: str
    minutes: int
    object_state: str | None = None


class Decision(BaseModel):
    agent: int
    action: ActionIntent | None = None
    talk_to: int | None = None
    dialogue: list[tuple[str, str]] = []  # the talk with talk_to, written whole: (speaker, text)
    talk_summary: str = ""
    plan_outline: list[str] | None = None
    plan_change: str | None = None
    reflected: list[str] | None = None

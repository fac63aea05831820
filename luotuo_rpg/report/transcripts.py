"""Every conversation of a run, line by line, read from frames.jsonl.

For reading what the agents actually said to each other (the report counts
conversations; this gives their words), as Markdown or one JSON object each.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, Field

from luotuo_rpg.phrases import phrase
from luotuo_rpg.report.data import ReportError, read_meta
from luotuo_rpg.sim.files import Frame
from luotuo_rpg.sim.frame_stream import FrameFile, FrameStreamError, TownState
from luotuo_rpg.world.places import room_containing, room_rects


class SaidLine(BaseModel):
    time: str
    speaker: str
    text: str


class Transcript(BaseModel):
    number: int = Field(description="1, 2, … in the order the conversations started.")
    tick: int
    start: str
    end: str | None = Field(default=None, description="None while the run stopped mid-conversation.")
    place: str | None
    members: list[str]
    lines: list[SaidLine] = Field(default_factory=list)


def read_transcripts(run_dir: Path, agents: list[str] | None = None) -> list[Transcript]:
    """The run's conversations in order; with ``agents``, only those one of them took part in."""
    run_dir = Path(run_dir)
    _, spec = read_meta(run_dir)
    names = [p.name for p in spec.personas]
    unknown = [a for a in agents or [] if a not in names]
    if unknown:
        separator = phrase(spec.world.language, "list_separator")
        raise ReportError(f"no agent named {', '.join(unknown)}; the agents: {separator.join(names)}")
    rooms = room_rects(spec)
    town = TownState()
    open_by_pair: dict[frozenset[int], Transcript] = {}
    transcripts: list[Transcript] = []
    for frame in _frames(run_dir):
        town.apply(frame)
        for event in frame.events:
            if event.agent is None or event.to is None:
                continue
            pair = frozenset((event.agent, event.to))
            if event.type == "conversation_start":
                # Where the one who began it stands, not where its action was heading; one standing in a
                # doorway talks in the room the other stands in.
                where = None
                for member in (event.agent, event.to):
                    seen = town.agents.get(member)
                    where = where or (room_containing(rooms, seen.pos) if seen is not None and seen.pos else None)
                talk = Transcript(
                    number=len(transcripts) + 1,
                    tick=frame.tick,
                    start=frame.time,
                    place=where,
                    members=[names[event.agent], names[event.to]],
                )
                transcripts.append(talk)
                open_by_pair[pair] = talk
            elif event.type == "say" and pair in open_by_pair:
                open_by_pair[pair].lines.append(
                    SaidLine(time=frame.time, speaker=names[event.agent], text=event.text or "")
                )
            elif event.type == "conversation_end" and pair in open_by_pair:
                open_by_pair.pop(pair).end = frame.time
    if agents:
        transcripts = [t for t in transcripts if set(t.members) & set(agents)]
    return transcripts


def _frames(run_dir: Path) -> Iterator[Frame]:
    try:
        yield from FrameFile(run_dir / "frames.jsonl")
    except FrameStreamError as error:
        raise ReportError(str(error)) from None


def to_markdown(transcripts: list[Transcript], run_name: str, language: str) -> str:
    """The conversations as Markdown, its own words in ``language``."""
    parts = [
        f"# {phrase(language, 'talks_title', run=run_name)}",
        "",
        phrase(language, "talks_count", count=len(transcripts)),
        "",
    ]
    for talk in transcripts:
        where = f" · {talk.place}" if talk.place else ""
        until = f"–{talk.end[-5:]}" if talk.end else phrase(language, "talk_unfinished")
        parts.append(f"## {talk.number}. {talk.start}{until} · {' × '.join(talk.members)}{where}")
        parts.append("")
        lines = [phrase(language, "talk_line", name=line.speaker, text=line.text) for line in talk.lines]
        parts += lines or [phrase(language, "talk_silent")]
        parts.append("")
    return "\n".join(parts)

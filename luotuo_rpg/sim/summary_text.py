"""The closing summary a person reads at the end of a run."""

from __future__ import annotations

from pathlib import Path

from luotuo_rpg.phrases import phrase
from luotuo_rpg.sim.files import CAME_MINUTES, RunSummary


def format_summary(summary: RunSummary, out: Path, language: str) -> str:
    """The summary in English, with the world's own texts (event names, who came) set as ``language`` sets them."""
    agents = summary.agents
    llm = summary.llm
    lines = [
        "",
        f"== {summary.world}: {summary.game_hours:g} game hours in {summary.wall_seconds:.1f} s "
        f"({summary.ticks} ticks, {summary.ticks_per_second:g} ticks/s) ==",
        f"agents {len(agents)} · memories {sum(a.memories for a in agents)} · plans {sum(a.plans for a in agents)} · "
        f"conversations {summary.conversations} · reflections {sum(a.reflections for a in agents)}",
        f"model requests {llm.requests} · tokens in {llm.tokens_in} · out {llm.tokens_out} · "
        f"repairs {llm.repairs} · fallbacks {llm.fallbacks}"
        + (" (offline: tokens are estimates)" if llm.backend == "offline" else ""),
        "",
        f"  {'kind':<18}{'requests':>9}{'tokens in':>11}{'tokens out':>11}{'fallbacks':>10}",
    ]
    for kind, stats in sorted(llm.by_kind.items()):
        lines.append(f"  {kind:<18}{stats.requests:>9}{stats.tokens_in:>11}{stats.tokens_out:>11}{stats.fallbacks:>10}")
    behaviour = summary.behaviour
    attendance = {e.what: e for e in behaviour.events} if behaviour else {}
    for event in summary.events:
        quoted = phrase(language, "summary_quoted", what=event.what)
        line = f"event {quoted}: known by {event.known_at_start} at start"
        seen = attendance.get(event.what)
        if seen is not None:
            line += f" → {len(seen.known_before)} before it began"
        line += f" → {event.known_at_end} at end"
        if seen is not None and not seen.began:
            line += f"; it had not begun when the run ended (starts {seen.start})"
        elif seen is not None:
            line += (
                f"; came (≥ {CAME_MINUTES} min) {len(seen.came)}, {len(seen.came_uninvited)} of them not told at start"
            )
            if seen.came:
                names = phrase(language, "list_separator").join(seen.came[:8]) + ("…" if len(seen.came) > 8 else "")
                line += phrase(language, "summary_who", names=names)
        lines.append(line)
    if behaviour is not None:
        reach = behaviour.action_reach
        lines.append(
            f"behaviour: awake {behaviour.awake_minutes:.0f} agent-min · stuck {behaviour.stuck_minutes:.0f} "
            f"({behaviour.stuck_share:.1%}) · actions whose room was reached {reach.reached}/{reach.actions} · "
            f"repeated lines {behaviour.repeated_lines}/{behaviour.lines}"
        )
        for seen in behaviour.events:
            if seen.injected:
                quoted = phrase(language, "summary_quoted", what=seen.what)
                lines.append(
                    f"injected {quoted}: known by {len(seen.learned)}; came (≥ {CAME_MINUTES} min) {len(seen.came)}"
                )
    if summary.sample_lines:
        lines.append("some lines:")
        lines += [f"  {line}" for line in summary.sample_lines[:5]]
    if summary.stopped_early:
        lines.append(f"stopped early: {summary.stopped_early}")
    lines.append(f"replay: {out}")
    if summary.stopped_early:
        lines.append(f"continue it with: luotuo-rpg resume {out}")
    return "\n".join(lines)


STOPPED_EARLY_EXIT = 3
"""Exit status of run, resume and fork when the run stopped before its target (a spent budget,
a backend gone): not an error in the world or the flags (2), and resumable."""


def exit_status(summary: RunSummary) -> int:
    return STOPPED_EARLY_EXIT if summary.stopped_early else 0

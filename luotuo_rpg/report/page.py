"""report.html: one self-contained page (inline SVG and CSS, no script, nothing fetched)."""

from __future__ import annotations

import logging
from html import escape
from pathlib import Path

from luotuo_rpg.llm import OFFLINE_LABEL
from luotuo_rpg.phrases import phrase, phrases
from luotuo_rpg.report import plots
from luotuo_rpg.report.data import RunData, load_run
from luotuo_rpg.report.svg import FONT_FAMILY
from luotuo_rpg.sim.files import CAME_MINUTES
from luotuo_rpg.sim.recorder import write_bytes_atomic

log = logging.getLogger(__name__)

_CSS = f"""
body {{ font-family: {FONT_FAMILY}; color: #263238; background: #fafafa; margin: 0; }}
main {{ max-width: 1060px; margin: 0 auto; padding: 16px 24px 48px; }}
h1 {{ font-size: 24px; margin: 12px 0 4px; }}
h2 {{ font-size: 18px; margin: 28px 0 6px; border-bottom: 1px solid #e0e0e0; padding-bottom: 4px; }}
p.meta {{ color: #607d8b; margin: 2px 0; font-size: 13px; }}
figure {{ margin: 8px 0 18px; background: #fff; border: 1px solid #eceff1; border-radius: 6px; padding: 10px;
  overflow-x: auto; }}
figcaption {{ color: #607d8b; font-size: 13px; margin-top: 6px; }}
svg.plot {{ display: block; max-width: 100%; height: auto; }}
table {{ border-collapse: collapse; font-size: 13px; margin: 6px 0; }}
td, th {{ border-bottom: 1px solid #eceff1; padding: 3px 10px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
.cards {{ display: flex; flex-wrap: wrap; gap: 10px; margin: 12px 0; }}
.card {{ background: #fff; border: 1px solid #eceff1; border-radius: 6px; padding: 8px 14px; min-width: 110px; }}
.card b {{ display: block; font-size: 20px; }}
.card span {{ color: #607d8b; font-size: 12px; }}
"""


def _figure(plot: plots.Plot) -> str:
    return (
        f'<figure id="{plot.key}"><figcaption><b>{escape(plot.title)}</b></figcaption>'
        f"{plot.svg}<figcaption>{escape(plot.caption)}</figcaption></figure>"
    )


def _cards(data: RunData) -> str:
    summary = data.summary
    llm = data.llm
    hours = data.frames.ticks * data.spec.world.tick_seconds / 3600

    def unit(key: str) -> str:
        return phrase(data.language, f"report_card_{key}")

    items = [
        (f"{len(data.spec.personas)}", unit("people")),
        (f"{hours:g}", unit("hours")),
        (f"{data.frames.ticks:,}", unit("ticks")),
        (f"{sum(data.frames.conversations.values())}", unit("conversations")),
        (f"{len(data.frames.reflections)}", unit("reflections")),
    ]
    if summary is not None:
        items.append((f"{sum(a.memories for a in summary.agents):,}", unit("memories")))
        items.append((f"{summary.wall_seconds:g} s", unit("wall")))
    if llm is not None:
        items += [
            (f"{llm.requests:,}", unit("requests")),
            (f"{llm.tokens_in + llm.tokens_out:,}", unit("tokens")),
            (f"{llm.fallbacks}", unit("fallbacks")),
        ]
    return (
        '<div class="cards">'
        + "".join(f"<div class='card'><b>{escape(v)}</b><span>{escape(k)}</span></div>" for v, k in items)
        + "</div>"
    )


def _header_row(cells: tuple[str, ...] | list[str]) -> str:
    return "<tr>" + "".join(f"<th>{escape(cell)}</th>" for cell in cells) + "</tr>"


def _llm_table(data: RunData) -> str:
    llm = data.llm
    language = data.language
    if llm is None:
        return f"<p class='meta'>{escape(phrase(language, 'report_no_accounting'))}</p>"
    rows = [
        f"<tr><td>{escape(kind)}</td><td>{k.requests:,}</td><td>{k.tokens_in:,}</td><td>{k.tokens_out:,}</td>"
        f"<td>{k.repairs}</td><td>{k.fallbacks}</td></tr>"
        for kind, k in sorted(llm.by_kind.items())
    ]
    rows.append(
        f"<tr><th>{escape(phrase(language, 'report_total'))}</th><th>{llm.requests:,}</th><th>{llm.tokens_in:,}</th>"
        f"<th>{llm.tokens_out:,}</th><th>{llm.repairs}</th><th>{llm.fallbacks}</th></tr>"
    )
    table = "<table>" + _header_row(phrases(language, "report_llm_columns")) + "".join(rows) + "</table>"
    if llm.fallback_reasons:
        reasons = "".join(
            f"<tr><td>{escape(r)}</td><td>{n}</td></tr>"
            for r, n in sorted(llm.fallback_reasons.items(), key=lambda kv: -kv[1])
        )
        table += "<table>" + _header_row(phrases(language, "report_reason_columns")) + reasons + "</table>"
    if llm.cached:
        table += f"<p class='meta'>{escape(phrase(language, 'report_cached', cached=f'{llm.cached:,}'))}</p>"
    return table


def _events_table(data: RunData) -> str:
    """Awareness beside attendance, per event: hearsay is only half the story."""
    language = data.language
    final = {e.what: e for e in data.summary.events} if data.summary else {}
    seen = {e.what: e for e in data.behaviour.events} if data.behaviour else {}
    rows = []
    whats = [e.what for e in data.spec.events] + [e.what for e in seen.values() if e.injected]
    for i, what in enumerate(whats):
        spread, came = final.get(what), seen.get(what)
        spec_event = next((e for e in data.spec.events if e.what == what), None)
        told = len(spec_event.known_by) if spec_event else 0
        before = len(came.known_before) if came else "—"
        end = spread.known_at_end if spread else (len(came.learned) if came else "—")
        guests = (
            phrase(language, "list_separator").join(
                phrase(language, "report_guest", name=n, minutes=f"{came.minutes_in_room[n]:.0f}") for n in came.came
            )
            if came and came.came
            else "—"
        )
        if came and not came.began:
            guests = phrase(language, "report_not_begun")  # "came 0" would read as nobody coming
        injected = phrase(language, "report_event_injected") if came and came.injected else ""
        named = phrase(language, "report_event_named", number=i + 1, injected=injected, what=what)
        rows.append(
            f"<tr><td>{escape(named)}</td>"
            f"<td>{escape(came.where if came else spec_event.where if spec_event else '')}</td>"
            f"<td>{escape(came.start[5:] if came else '')}</td><td>{told}</td><td>{before}</td><td>{end}</td>"
            f"<td>{len(came.came) if came else '—'}</td><td>{len(came.came_uninvited) if came else '—'}</td>"
            f"<td>{escape(guests)}</td></tr>"
        )
    columns = [column.format(minutes=CAME_MINUTES) for column in phrases(language, "report_event_columns")]
    return "<table>" + _header_row(columns) + "".join(rows) + "</table>"


def _behaviour(data: RunData) -> str:
    b = data.behaviour
    language = data.language
    if b is None:
        return f"<p class='meta'>{escape(phrase(language, 'report_no_measures'))}</p>"
    reach = b.action_reach
    separator = phrase(language, "list_separator")
    stuck = separator.join(
        phrase(language, "report_stuck_agent", name=n, minutes=f"{m:.0f}") for n, m in b.stuck_by_agent.items()
    ) or phrase(language, "report_none")
    fallbacks = separator.join(
        phrase(language, "report_kind_share", kind=k, share=f"{v:.1%}")
        for k, v in b.fallback_share_by_kind.items()
        if v
    ) or phrase(language, "report_none")
    items = [
        phrase(
            language,
            "report_stuck",
            awake=f"{b.awake_minutes:,.0f}",
            stuck=f"{b.stuck_minutes:,.0f}",
            share=f"{b.stuck_share:.1%}",
            longest=stuck,
        ),
        phrase(
            language,
            "report_reach",
            reached=reach.reached,
            actions=reach.actions,
            minutes=f"{reach.mean_minutes_to_reach:g}",
        ),
        phrase(language, "report_repeats", repeated=b.repeated_lines, lines=b.lines, share=f"{b.repeated_share:.1%}"),
        phrase(language, "report_fallback_shares", shares=fallbacks),
    ]
    return "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in items) + "</ul>"


def render_report(data: RunData) -> str:
    meta = data.meta
    world = data.spec.world
    language = data.language
    backend = (data.llm.backend if data.llm else meta.llm.get("llm", "?")) or "?"
    mind = OFFLINE_LABEL if backend == "offline" else f"{backend} backend"
    model = (meta.llm.get("openai") or {}).get("model") or meta.llm.get("local_model")
    lines = [
        phrase(
            language,
            "report_meta_run",
            run_id=meta.run_id,
            seed=meta.seed,
            tick_seconds=world.tick_seconds,
            start=f"{world.start:%Y-%m-%d %H:%M}",
        ),
        phrase(language, "report_meta_model", mind=mind)
        + (phrase(language, "report_meta_model_name", model=model) if model else ""),
    ]
    if meta.parent:
        lines.append(phrase(language, "report_forked_from", parent=meta.parent))
    if data.summary is None:
        lines.append(phrase(language, "report_unfinished"))
    if data.summary and data.summary.stopped_early:
        lines.append(phrase(language, "report_stopped_early", reason=data.summary.stopped_early))
    if data.frames.torn_line:
        lines.append(phrase(language, "report_torn_line"))
    no_frames = f"<p class='meta'>{escape(phrase(language, 'report_no_frames'))}</p>"
    no_events = f"<p class='meta'>{escape(phrase(language, 'report_no_events'))}</p>"
    parts = [
        [_figure(p) for p in plots.timelines(data)] or [no_frames],
        [_figure(plots.heatmap(data))],
        [_figure(plots.network(data))],
        [_figure(plots.memories(data)), _figure(plots.reflections(data))],
        [_figure(plots.llm_requests(data)), _figure(plots.llm_tokens(data)), _llm_table(data)],
        [_behaviour(data)],
        [_figure(plots.event_spread(data)), _events_table(data)] if data.spec.events else [no_events],
    ]
    sections = zip(phrases(language, "report_sections"), parts, strict=True)
    body = "".join(f"<section><h2>{escape(title)}</h2>{''.join(part)}</section>" for title, part in sections)
    title = phrase(language, "report_title", world=world.name, run_id=meta.run_id)
    return (
        f"<!DOCTYPE html><html lang='{phrase(language, 'report_html_lang')}'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>{escape(phrase(language, 'report_heading', world=world.name))}</h1>"
        + "".join(f"<p class='meta'>{escape(line)}</p>" for line in lines)
        + _cards(data)
        + body
        + "</main></body></html>"
    )


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write ``run_dir/report.html`` (or ``out``) and return its path."""
    run_dir = Path(run_dir)
    data = load_run(run_dir)
    target = Path(out) if out else run_dir / "report.html"
    write_bytes_atomic(target, render_report(data).encode("utf-8"))
    log.info("report written to %s", target)
    return target

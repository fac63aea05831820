"""report.html: one self-contained page (inline SVG and CSS, no script, nothing fetched)."""

from __future__ import annotations

import logging
from html import escape
from pathlib import Path

from luotuo_rpg.llm import OFFLINE_LABEL
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
    items = [
        (f"{len(data.spec.personas)}", "人"),
        (f"{hours:g}", "游戏小时"),
        (f"{data.frames.ticks:,}", "tick"),
        (f"{sum(data.frames.conversations.values())}", "次聊天"),
        (f"{len(data.frames.reflections)}", "次反思"),
    ]
    if summary is not None:
        items.append((f"{sum(a.memories for a in summary.agents):,}", "条记忆"))
        items.append((f"{summary.wall_seconds:g} s", "实际用时"))
    if llm is not None:
        items += [
            (f"{llm.requests:,}", "次模型请求"),
            (f"{llm.tokens_in + llm.tokens_out:,}", "token"),
            (f"{llm.fallbacks}", "次回退"),
        ]
    return (
        '<div class="cards">'
        + "".join(f"<div class='card'><b>{escape(v)}</b><span>{escape(k)}</span></div>" for v, k in items)
        + "</div>"
    )


def _llm_table(data: RunData) -> str:
    llm = data.llm
    if llm is None:
        return "<p class='meta'>没有模型记账（summary.json 与检查点都不在）。</p>"
    rows = [
        f"<tr><td>{escape(kind)}</td><td>{k.requests:,}</td><td>{k.tokens_in:,}</td><td>{k.tokens_out:,}</td>"
        f"<td>{k.repairs}</td><td>{k.fallbacks}</td></tr>"
        for kind, k in sorted(llm.by_kind.items())
    ]
    rows.append(
        f"<tr><th>合计</th><th>{llm.requests:,}</th><th>{llm.tokens_in:,}</th><th>{llm.tokens_out:,}</th>"
        f"<th>{llm.repairs}</th><th>{llm.fallbacks}</th></tr>"
    )
    table = (
        "<table><tr><th>类型</th><th>请求</th><th>输入 token</th><th>输出 token</th><th>修复</th><th>回退</th></tr>"
        + "".join(rows)
        + "</table>"
    )
    if llm.fallback_reasons:
        reasons = "".join(
            f"<tr><td>{escape(r)}</td><td>{n}</td></tr>"
            for r, n in sorted(llm.fallback_reasons.items(), key=lambda kv: -kv[1])
        )
        table += "<table><tr><th>回退原因</th><th>次数</th></tr>" + reasons + "</table>"
    if llm.cached:
        table += f"<p class='meta'>其中 {llm.cached:,} 次来自响应缓存。</p>"
    return table


def _events_table(data: RunData) -> str:
    """Awareness beside attendance, per event: hearsay is only half the story."""
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
        guests = "、".join(f"{n}（{came.minutes_in_room[n]:.0f} 分）" for n in came.came) if came and came.came else "—"
        if came and not came.began:
            guests = "运行结束时尚未开始"  # "came 0" would read as nobody coming
        rows.append(
            f"<tr><td>事件{i + 1}{'（插入）' if came and came.injected else ''}：{escape(what)}</td>"
            f"<td>{escape(came.where if came else spec_event.where if spec_event else '')}</td>"
            f"<td>{escape(came.start[5:] if came else '')}</td><td>{told}</td><td>{before}</td><td>{end}</td>"
            f"<td>{len(came.came) if came else '—'}</td><td>{len(came.came_uninvited) if came else '—'}</td>"
            f"<td>{escape(guests)}</td></tr>"
        )
    return (
        "<table><tr><th>事件</th><th>地点</th><th>时间</th><th>开始时知道</th><th>开始前知道</th><th>最终知道</th>"
        f"<th>来了（≥ {CAME_MINUTES} 分钟）</th><th>其中开始时未被告知</th><th>来的人（在场分钟）</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _behaviour(data: RunData) -> str:
    b = data.behaviour
    if b is None:
        return "<p class='meta'>没有帧，无从衡量。</p>"
    reach = b.action_reach
    stuck = "、".join(f"{escape(n)} {m:.0f} 分" for n, m in b.stuck_by_agent.items()) or "无"
    fallbacks = "、".join(f"{escape(k)} {v:.1%}" for k, v in b.fallback_share_by_kind.items() if v) or "无"
    items = [
        f"醒着 {b.awake_minutes:,.0f} 人·分钟，其中卡住（不在对话、没动、不在当前行动的房间里）"
        f"{b.stuck_minutes:,.0f}（{b.stuck_share:.1%}）；最久：{stuck}",
        f"到达了行动所在房间的行动 {reach.reached}/{reach.actions}，平均 {reach.mean_minutes_to_reach:g} 分钟到",
        f"同一天对同一人重复说过的话 {b.repeated_lines}/{b.lines}（{b.repeated_share:.1%}）",
        f"模型回答用了后备答案的比例：{fallbacks}",
    ]
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def render_report(data: RunData) -> str:
    meta = data.meta
    world = data.spec.world
    backend = (data.llm.backend if data.llm else meta.llm.get("llm", "?")) or "?"
    mind = OFFLINE_LABEL if backend == "offline" else f"{backend} backend"
    model = (meta.llm.get("openai") or {}).get("model") or meta.llm.get("local_model")
    lines = [
        f"运行 {escape(meta.run_id)} · 种子 {meta.seed} · 每 tick {world.tick_seconds} 秒 · 开始于 "
        f"{world.start:%Y-%m-%d %H:%M}",
        f"模型：{escape(mind)}" + (f"（{escape(str(model))}）" if model else ""),
    ]
    if meta.parent:
        lines.append(f"分支自 {escape(meta.parent)}")
    if data.summary is None:
        lines.append("这次运行还没有结束（没有 summary.json）：数字截至最新的帧与检查点。")
    if data.summary and data.summary.stopped_early:
        lines.append(f"提前停止：{escape(data.summary.stopped_early)}")
    if data.frames.torn_line:
        lines.append("frames.jsonl 的最后一行不完整（进程在写入时中断），已忽略。")
    sections = [
        ("每个人的一天", [_figure(p) for p in plots.timelines(data)] or ["<p class='meta'>没有帧。</p>"]),
        ("地图热度", [_figure(plots.heatmap(data))]),
        ("对话网络", [_figure(plots.network(data))]),
        ("记忆与反思", [_figure(plots.memories(data)), _figure(plots.reflections(data))]),
        ("模型用量", [_figure(plots.llm_requests(data)), _figure(plots.llm_tokens(data)), _llm_table(data)]),
        ("行为", [_behaviour(data)]),
        (
            "消息传播与到场",
            [_figure(plots.event_spread(data)), _events_table(data)]
            if data.spec.events
            else ["<p class='meta'>这个世界没有预定事件。</p>"],
        ),
    ]
    body = "".join(f"<section><h2>{escape(title)}</h2>{''.join(parts)}</section>" for title, parts in sections)
    title = f"{world.name} · 运行报告 · {meta.run_id}"
    return (
        "<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>{escape(world.name)} · 运行报告</h1>"
        + "".join(f"<p class='meta'>{line}</p>" for line in lines)
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

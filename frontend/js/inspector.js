// The inspector: one agent's mind as /api/agents/{id} describes it, rendered as HTML.

export function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

const place = (address) => escapeHtml((address || "").replaceAll("/", "›"));
const KIND = { observation: "观察", chat: "对话", thought: "想法", plan: "计划", event: "事件" };

function section(title, body, empty = "（暂无）") {
  return `<h3>${title}</h3>${body || `<div class="muted">${empty}</div>`}`;
}

function list(items, render, ordered = false) {
  if (!items || items.length === 0) return "";
  const tag = ordered ? "ol" : "ul";
  return `<${tag}>${items.map(render).join("")}</${tag}>`;
}

export function renderAgent(detail) {
  const current = detail.current
    ? `${escapeHtml(detail.current.emoji)} ${escapeHtml(detail.current.activity)} · ${place(detail.current.place)}` +
      (detail.current.ends ? ` <span class="time">到 ${escapeHtml(detail.current.ends.slice(11))}</span>` : "")
    : `${escapeHtml(detail.emoji || "")} ${escapeHtml(detail.action || "")} · ${place(detail.place)}`;
  const parts = [];
  parts.push(`<div class="muted">${detail.age} 岁 · ${detail.traits.map(escapeHtml).join("、")}</div>`);
  parts.push(`<div class="now" data-field="action">正在：${current}</div>`);
  // place is where the action is; at is where the agent stands (absent in old replays).
  if (detail.at !== null && detail.at !== undefined) {
    parts.push(`<div class="muted" data-field="at">身在：${detail.at ? place(detail.at) : "街上"}</div>`);
  }
  parts.push(`<div class="muted">${escapeHtml(detail.background)}</div>`);
  if (!detail.live) parts.push(`<div class="muted">（回放里只有录下的言行，没有记忆流。）</div>`);

  const outline = list(detail.outline, (line) => `<li>${escapeHtml(line)}</li>`, true);
  parts.push(section("今日打算", outline));
  const schedule = list(detail.schedule, (block) =>
    `<li class="${block.current ? "current" : ""}"><span class="time">${escapeHtml(block.start)}</span>${escapeHtml(block.activity)} <span class="muted">${place(block.place)}</span></li>`);
  parts.push(section(detail.live ? "日程" : "日常作息", schedule && `<div data-field="schedule">${schedule}</div>`));
  if (detail.upcoming && detail.upcoming.length) {
    parts.push(section("接下来", list(detail.upcoming, (a) =>
      `<li>${escapeHtml(a.emoji)} ${escapeHtml(a.activity)} <span class="muted">${a.minutes} 分钟</span></li>`)));
  }
  if (detail.live) {
    const memories = list(detail.memories, (m) =>
      `<li><span class="time">${escapeHtml(m.time.slice(11))}</span>[${KIND[m.kind] || escapeHtml(m.kind)}·${m.importance}] ${escapeHtml(m.text)}</li>`);
    parts.push(section("最近的记忆", memories && `<div class="scroll" data-field="memories">${memories}</div>`));
  }
  const reflections = list(detail.reflections, (r) => {
    const cites = r.cites && r.cites.length
      ? `<details><summary class="muted">依据 ${r.cites.length} 条记忆</summary>${list(r.cites, (c) => `<li>${escapeHtml(c.text)}</li>`)}</details>`
      : "";
    return `<li><span class="time">${escapeHtml(r.time.slice(11))}</span>${escapeHtml(r.text)}${cites}</li>`;
  });
  parts.push(section("反思", reflections && `<div class="scroll" data-field="reflections">${reflections}</div>`));
  const relationships = list(detail.relationships, (r) =>
    `<li><b>${escapeHtml(r.name)}</b> ${escapeHtml(r.description)}${r.conversations ? ` <span class="muted">聊过 ${r.conversations} 次</span>` : ""}</li>`);
  parts.push(section("关系", relationships));
  const log = list(detail.conversation_log, (line) =>
    `<li><span class="time">${escapeHtml(line.time.slice(11))}</span><b>${escapeHtml(line.speaker)}</b>${line.to ? ` → ${escapeHtml(line.to)}` : ""}：${escapeHtml(line.text)}</li>`);
  parts.push(section("对话记录", log && `<div class="scroll" data-field="conversation">${log}</div>`));
  if (detail.known_events && detail.known_events.length) {
    parts.push(section("知道的事", list(detail.known_events, (e) => `<li>${escapeHtml(e)}</li>`)));
  }
  return parts.join("");
}

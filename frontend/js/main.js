// The browser viewer: one websocket (hello, then a frame per tick), REST for the inspector,
// typed controls with the server's token. Tests read window.__luotuo.

import { renderAgent, escapeHtml } from "./inspector.js";
import { MapView } from "./map.js";
import { Town } from "./town.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const replayName = params.get("replay");
const replayQuery = replayName ? `?replay=${encodeURIComponent(replayName)}` : "";
const INSPECT_REFRESH_MS = 2500;

const town = new Town();
const view = new MapView($("map"), $("map-wrap"), town);
let socket = null;
let connected = false;
let retryMs = 500;
let controlSeq = 0;
let scrubbing = false;
let inspectTimer = null;
let lastDetail = null;
let lastResult = null;
let lastError = null;
const pending = new Map();  // control id → callback(result)

// --- token ---------------------------------------------------------------------------
// The server turned ?token= of this page's URL into an HTTP-only, same-site cookie that the
// websocket presents at its handshake; the token leaves the address bar (and the history)
// here and is never kept where scripts can read it. A token typed in becomes the same cookie.
const tokenInput = $("token");
localStorage.removeItem("luotuo-token");  // where older versions kept it
if (params.has("token")) {
  params.delete("token");
  const rest = params.toString();
  history.replaceState(null, "", `${location.pathname}${rest ? `?${rest}` : ""}${location.hash}`);
}

function showAuthorized(authorized) {
  tokenInput.placeholder = authorized ? "已有口令，可以控制" : "控制需要口令";
}

fetch("/api/session").then((r) => r.json()).then((s) => showAuthorized(s.authorized)).catch(() => {});

$("token-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = tokenInput.value.trim();
  tokenInput.value = "";
  const response = await fetch("/api/session", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token }),
  });
  showAuthorized(response.ok);
  if (!response.ok) {
    showBanner("口令不对", [], 4000);
    return;
  }
  if (socket) socket.close();  // reconnect: the new handshake carries the cookie
});

// --- connection ----------------------------------------------------------------------
function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws${replayQuery}`);
  socket.addEventListener("open", () => {
    connected = true;
    retryMs = 500;
    setConn("已连接", false);
  });
  socket.addEventListener("message", (event) => onMessage(JSON.parse(event.data)));
  socket.addEventListener("close", () => {
    connected = false;
    setConn("已断开，正在重连…", true);
    for (const [, callback] of pending) callback({ ok: false, error: "连接断开了" });
    pending.clear();
    setTimeout(connect, retryMs);
    retryMs = Math.min(5000, retryMs * 2);
  });
}

function setConn(text, down) {
  $("conn").textContent = text;
  $("conn").classList.toggle("down", down);
}

function send(control) {
  return new Promise((resolve) => {
    if (!connected) {
      resolve({ ok: false, error: "还没连上服务器" });
      return;
    }
    const id = `c${++controlSeq}`;
    pending.set(id, resolve);
    socket.send(JSON.stringify({ type: "control", id, ...control }));
  });
}

async function control(action, extra = {}) {
  const result = await send({ action, ...extra });
  if (!result.ok) {
    showBanner(`${actionName(action)}没有成功：${result.error}`, [], 6000);
    onStatus();  // put the buttons and the speed menu back to what the server really does
  }
  return result;
}

function actionName(action) {
  return { pause: "暂停", resume: "继续", speed: "调速", step: "单步", interview: "采访", inject: "发布事件", seek: "跳转" }[action] || action;
}

function onMessage(message) {
  const now = performance.now();
  switch (message.type) {
    case "hello":
      town.applyHello(message, now);
      onHello(message);
      break;
    case "frame":
      town.applyFrame(message.frame, now);
      onTick();
      break;
    case "status":
      town.paused = message.paused;
      town.speed = message.speed;
      town.ended = message.ended;
      onStatus();
      break;
    case "result": {
      lastResult = message;
      const callback = pending.get(message.id);
      pending.delete(message.id);
      if (callback) callback(message);
      break;
    }
    case "error":
      lastError = message;
      showBanner(message.message, message.issues || []);
      break;
    default:
      break;
  }
  updateHook();
}

// --- hello, frames, status → the page -----------------------------------------------
function onHello(hello) {
  $("world-name").textContent = hello.world;
  document.title = `骆驼RPG · ${hello.world}`;
  const isReplay = Boolean(hello.replay);
  $("mode").textContent = isReplay ? `回放 ${hello.replay.run_id}` : hello.recording ? "实时 · 录制中" : "实时";
  $("mode").title = hello.recording ? `录制到 ${hello.recording}（结束后可回放、出报告、续跑）` : "";
  $("timeline").hidden = !isReplay;
  $("interview-panel").hidden = isReplay;
  $("inject-panel").hidden = isReplay;
  if (isReplay) {
    $("scrubber").min = hello.replay.first_tick;
    $("scrubber").max = hello.replay.last_tick;
  }
  if (hello.errors && hello.errors.length) {
    showBanner("世界文件有问题，仍在运行原来的世界", hello.errors);
  } else if (lastError && lastError.issues && lastError.issues.length) {
    hideBanner();  // a fresh world replaced the one whose file was broken
  }
  fillAgentControls(hello);
  view.layout();
  onStatus();
  onTick();
  if (view.selected !== null && view.selected >= hello.personas.length) select(null);
  else if (view.selected !== null) refreshInspector();
}

function fillAgentControls(hello) {
  const list = $("agent-list");
  list.innerHTML = "";
  const interviewee = $("interview-agent");
  const keep = interviewee.value;
  interviewee.innerHTML = "";
  for (const persona of hello.personas) {
    const chip = document.createElement("button");
    chip.type = "button";
    chip.className = "agent-chip";
    chip.dataset.agent = persona.id;
    chip.innerHTML = `<span class="dot" style="background:${escapeHtml(persona.color)}"></span><span class="emoji"></span>${escapeHtml(persona.name)}`;
    chip.addEventListener("click", () => select(persona.id));
    list.appendChild(chip);
    const option = document.createElement("option");
    option.value = persona.id;
    option.textContent = persona.name;
    interviewee.appendChild(option);
  }
  if (keep !== "" && Number(keep) < hello.personas.length) interviewee.value = keep;
  const where = $("inject-where");
  where.innerHTML = "";
  for (const place of hello.places) {
    const option = document.createElement("option");
    option.value = place.address;
    option.textContent = place.address.replaceAll("/", "›");
    where.appendChild(option);
  }
}

function onTick() {
  $("clock").textContent = town.time;
  $("tick").textContent = `第 ${town.tick} 刻`;
  if (town.hello && town.hello.replay && !scrubbing) {
    $("scrubber").value = town.tick;
    $("scrubber-label").textContent = `${town.time}（第 ${town.tick} 刻）`;
  }
  for (const chip of $("agent-list").children) {
    const agent = town.agents.get(Number(chip.dataset.agent));
    if (agent) {
      chip.querySelector(".emoji").textContent = agent.emoji;
      chip.title = `${agent.action} · ${agent.place.replaceAll("/", "›")}`;
    }
  }
  renderLog();
}

let renderedLogTop = null;
function renderLog() {
  const top = town.log[0];
  if (top === renderedLogTop) return;
  renderedLogTop = top;
  $("event-log").innerHTML = town.log
    .slice(0, 40)
    .map((e) => `<li><span class="muted">${escapeHtml(e.time.slice(11))}</span> ${escapeHtml(e.text)}</li>`)
    .join("");
}

function onStatus() {
  $("paused-badge").hidden = !town.paused;
  $("paused-badge").textContent = town.ended ? "已播完" : "已暂停";
  $("btn-pause").disabled = town.paused;
  $("btn-resume").disabled = !town.paused;
  $("btn-step").disabled = !town.paused;
  const speed = $("speed");
  const value = String(town.speed);
  if (![...speed.options].some((o) => o.value === value)) {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = `${value} 刻/秒`;
    speed.appendChild(option);
  }
  speed.value = value;
}

// --- banner ----------------------------------------------------------------------------
let bannerTimer = null;
function showBanner(message, issues = [], autoHideMs = 0) {
  $("banner-text").innerHTML = escapeHtml(message) +
    (issues.length ? `<ul>${issues.map((i) => `<li>${escapeHtml(i)}</li>`).join("")}</ul>` : "");
  $("banner").hidden = false;
  clearTimeout(bannerTimer);
  if (autoHideMs) bannerTimer = setTimeout(hideBanner, autoHideMs);
}
function hideBanner() {
  $("banner").hidden = true;
}
$("banner-close").addEventListener("click", hideBanner);

// --- inspector -------------------------------------------------------------------------
function select(id) {
  view.selected = id;
  for (const chip of $("agent-list").children) chip.classList.toggle("selected", Number(chip.dataset.agent) === id);
  clearInterval(inspectTimer);
  lastDetail = null;
  if (id === null) {
    $("insp-title").textContent = "点击地图上的人物查看详情";
    $("insp-body").innerHTML = "";
    updateHook();
    return;
  }
  $("interview-agent").value = id;
  const agent = town.agents.get(id);
  $("insp-title").textContent = agent ? agent.name : `#${id}`;
  $("insp-body").innerHTML = '<div class="muted">载入中…</div>';
  refreshInspector();
  inspectTimer = setInterval(() => {
    if (!document.hidden) refreshInspector();
  }, INSPECT_REFRESH_MS);
  updateHook();
}

async function refreshInspector() {
  const id = view.selected;
  if (id === null) return;
  try {
    const response = await fetch(`/api/agents/${id}${replayQuery}`);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const detail = await response.json();
    if (view.selected !== id) return;
    lastDetail = detail;
    $("insp-title").textContent = `${detail.emoji || ""} ${detail.name}`;
    const scrolls = [...$("insp-body").querySelectorAll(".scroll")].map((el) => el.scrollTop);
    $("insp-body").innerHTML = renderAgent(detail);
    [...$("insp-body").querySelectorAll(".scroll")].forEach((el, i) => { el.scrollTop = scrolls[i] || 0; });
  } catch (error) {
    $("insp-body").innerHTML = `<div class="muted">载入失败：${escapeHtml(error.message)}</div>`;
  }
  updateHook();
}

// --- canvas: click to inspect, hover for names of places ---------------------------------
function cssPoint(event) {
  const rect = view.canvas.getBoundingClientRect();
  return { x: event.clientX - rect.left, y: event.clientY - rect.top };
}

view.canvas.addEventListener("click", (event) => {
  const p = cssPoint(event);
  const agent = view.agentAt(p.x, p.y, performance.now());
  if (agent) select(agent.id);
});

view.canvas.addEventListener("mousemove", (event) => {
  const p = cssPoint(event);
  const agent = view.agentAt(p.x, p.y, performance.now());
  const tip = $("tooltip");
  let text = "";
  if (agent) {
    text = `${agent.name}：${agent.emoji} ${agent.action}`;
  } else {
    const place = view.placeAt(p.x, p.y);
    if (place) {
      text = (place.object || place.address).replaceAll("/", "›");
      const state = place.object && town.objects.get(place.object);
      if (state) text += `（${state}）`;
    }
  }
  tip.hidden = !text;
  if (text) {
    tip.textContent = text;
    tip.style.left = `${p.x + 12 - $("map-wrap").scrollLeft + view.canvas.offsetLeft}px`;
    tip.style.top = `${p.y + 12 - $("map-wrap").scrollTop + view.canvas.offsetTop}px`;
  }
});
view.canvas.addEventListener("mouseleave", () => { $("tooltip").hidden = true; });

// --- controls --------------------------------------------------------------------------
$("btn-pause").addEventListener("click", () => control("pause"));
$("btn-resume").addEventListener("click", () => control("resume"));
$("btn-step").addEventListener("click", () => control("step"));
$("speed").addEventListener("change", (event) => control("speed", { value: Number(event.target.value) }));

$("scrubber").addEventListener("input", (event) => {
  scrubbing = true;
  $("scrubber-label").textContent = `跳到第 ${event.target.value} 刻…`;
});
$("scrubber").addEventListener("change", async (event) => {
  scrubbing = false;
  await control("seek", { value: Number(event.target.value) });
});

$("interview-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const question = $("interview-question").value.trim();
  if (!question) return;
  const agentId = Number($("interview-agent").value);
  const name = town.agents.get(agentId)?.name || `#${agentId}`;
  const item = document.createElement("li");
  item.innerHTML = `<div class="q">问${escapeHtml(name)}：${escapeHtml(question)}</div><div class="a muted">思考中…</div>`;
  $("interview-log").prepend(item);
  $("interview-question").value = "";
  const result = await send({ action: "interview", agent: agentId, question });
  const answer = item.querySelector(".a");
  answer.classList.remove("muted");
  if (result.ok) {
    answer.textContent = `${name}：${result.answer}`;
  } else {
    answer.classList.add("error");
    answer.textContent = `没有回答：${result.error}`;
  }
  updateHook();
});

$("inject-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const what = $("inject-what").value.trim();
  if (!what) return;
  const result = await send({
    action: "inject", what, where: $("inject-where").value, minutes: Number($("inject-minutes").value) || 60,
  });
  $("inject-result").textContent = result.ok ? `已发布：${what}` : `没有发布：${result.error}`;
  if (result.ok) $("inject-what").value = "";
});

async function loadReplays() {
  try {
    const response = await fetch("/api/replays");
    const replays = await response.json();
    const select = $("replay-select");
    for (const replay of replays) {
      const option = document.createElement("option");
      option.value = replay.name;
      option.textContent = `${replay.name}${replay.world ? ` · ${replay.world}` : ""}`;
      select.appendChild(option);
    }
    select.value = replayName || "";
    select.addEventListener("change", () => {
      const next = new URLSearchParams();
      if (select.value) next.set("replay", select.value);
      location.search = next.toString();
    });
  } catch (error) {
    console.warn("replays unavailable", error);
  }
}

// --- drawing ---------------------------------------------------------------------------
function frameLoop() {
  view.draw(performance.now());
  requestAnimationFrame(frameLoop);
}

let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => view.layout(), 100);
});

// --- test hook -------------------------------------------------------------------------
function updateHook() {
  const agents = {};
  for (const [id, a] of town.agents) {
    agents[id] = { x: a.x, y: a.y, name: a.name, action: a.action, emoji: a.emoji, place: a.place, asleep: a.asleep, conv: a.conv };
  }
  window.__luotuo = {
    connected,
    world: town.hello ? town.hello.world : null,
    mode: town.hello ? (town.hello.replay ? "replay" : "live") : null,
    tick: town.tick,
    time: town.time,
    paused: town.paused,
    speed: town.speed,
    frames: town.frames,
    hellos: town.hellos,
    agents,
    bubbles: Object.fromEntries([...town.bubbles].map(([id, b]) => [id, b.text])),
    selected: view.selected,
    detail: lastDetail,
    lastResult,
    lastError,
    tileSize: view.tile,
    screenPos: (id) => view.screenPos(id),
  };
}

updateHook();
loadReplays();
connect();
requestAnimationFrame(frameLoop);

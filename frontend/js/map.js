// Draws the town on a canvas: tiles and places once into a background image,
// then agents, names, emoji and speech bubbles every animation frame.

export const FONT = '"WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "Noto Color Emoji", sans-serif';
const MIN_TILE = 8;
const MAX_TILE = 36;

function alpha(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
}

export class MapView {
  constructor(canvas, wrap, town) {
    this.canvas = canvas;
    this.wrap = wrap;
    this.town = town;
    this.ctx = canvas.getContext("2d");
    this.tile = 16;
    this.dpr = window.devicePixelRatio || 1;
    this.background = null;
    this.selected = null;
  }

  // Fit the map to the space it has; on narrow screens keep tiles readable and let it scroll.
  layout() {
    const hello = this.town.hello;
    if (!hello) return;
    const { width, height } = hello.map;
    const availW = Math.max(200, this.wrap.clientWidth || window.innerWidth);
    const availH = Math.max(240, window.innerHeight - 170);
    const fit = Math.floor(Math.min(availW / width, availH / height));
    this.tile = Math.max(MIN_TILE, Math.min(MAX_TILE, fit));
    this.dpr = window.devicePixelRatio || 1;
    const cssW = width * this.tile;
    const cssH = height * this.tile;
    this.canvas.style.width = `${cssW}px`;
    this.canvas.style.height = `${cssH}px`;
    this.canvas.width = Math.round(cssW * this.dpr);
    this.canvas.height = Math.round(cssH * this.dpr);
    this.background = this._drawBackground(cssW, cssH);
  }

  _drawBackground(cssW, cssH) {
    const hello = this.town.hello;
    const t = this.tile;
    const image = document.createElement("canvas");
    image.width = Math.round(cssW * this.dpr);
    image.height = Math.round(cssH * this.dpr);
    const ctx = image.getContext("2d");
    ctx.scale(this.dpr, this.dpr);
    const rows = hello.map.rows;
    for (let y = 0; y < rows.length; y++) {
      const row = rows[y];
      for (let x = 0; x < row.length; x++) {
        const kind = hello.map.legend[row[x]];
        ctx.fillStyle = kind ? kind.color : "#000";
        ctx.fillRect(x * t, y * t, t, t);
      }
    }
    // Places: tint their walkable tiles, outline the room, mark objects.
    for (const place of hello.places) {
      const [px, py, pw, ph] = place.rect;
      ctx.fillStyle = alpha(place.color, 0.45);
      for (let y = py; y < py + ph; y++) {
        for (let x = px; x < px + pw; x++) {
          const kind = hello.map.legend[(rows[y] || "")[x]];
          if (kind && kind.walkable) ctx.fillRect(x * t, y * t, t, t);
        }
      }
      ctx.strokeStyle = alpha(place.color, 0.9);
      ctx.lineWidth = 1;
      ctx.strokeRect(px * t + 0.5, py * t + 0.5, pw * t - 1, ph * t - 1);
      for (const [, [ox, oy]] of Object.entries(place.objects || {})) {
        ctx.fillStyle = "rgba(62, 39, 35, 0.55)";
        const m = Math.max(2, t * 0.22);
        ctx.fillRect(ox * t + m, oy * t + m, t - 2 * m, t - 2 * m);
      }
    }
    // Labels last, so no room's tint covers another room's name.
    for (const place of hello.places) {
      const [px, py, pw, ph] = place.rect;
      const [area, room] = place.address.split("/");
      const size = Math.max(11, Math.min(16, t * 0.75));
      ctx.font = `600 ${size}px ${FONT}`;
      const full = `${area}·${room}`;
      const label = ctx.measureText(full).width + 8 <= pw * t ? full : room;
      const w = ctx.measureText(label).width;
      const cx = (px + pw / 2) * t;
      const cy = py * t + Math.min(ph * t / 2, size * 0.9 + 2);
      ctx.fillStyle = "rgba(255, 253, 248, 0.78)";
      ctx.fillRect(cx - w / 2 - 3, cy - size / 2 - 2, w + 6, size + 4);
      ctx.fillStyle = "#3e2723";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(label, cx, cy);
    }
    return image;
  }

  // Centre of an agent in CSS pixels of the canvas.
  agentCenter(agent, now) {
    const p = this.town.drawnPos(agent, now);
    return { x: (p.x + 0.5) * this.tile, y: (p.y + 0.5) * this.tile };
  }

  // Page coordinates of an agent (for clicks in tests and the tooltip).
  screenPos(id) {
    const agent = this.town.agents.get(Number(id));
    if (!agent) return null;
    const rect = this.canvas.getBoundingClientRect();
    return { x: rect.left + (agent.x + 0.5) * this.tile, y: rect.top + (agent.y + 0.5) * this.tile };
  }

  agentAt(cssX, cssY, now) {
    let best = null;
    let bestDist = Math.max(this.tile * 0.7, 12);
    for (const agent of this.town.agents.values()) {
      const c = this.agentCenter(agent, now);
      const d = Math.hypot(c.x - cssX, c.y - cssY);
      if (d < bestDist) {
        best = agent;
        bestDist = d;
      }
    }
    return best;
  }

  placeAt(cssX, cssY) {
    const hello = this.town.hello;
    if (!hello) return null;
    const x = Math.floor(cssX / this.tile);
    const y = Math.floor(cssY / this.tile);
    let found = null;
    for (const place of hello.places) {
      const [px, py, pw, ph] = place.rect;
      if (x >= px && x < px + pw && y >= py && y < py + ph) {
        found = { address: place.address, object: null };
        for (const [address, [ox, oy]] of Object.entries(place.objects || {})) {
          if (ox === x && oy === y) found.object = address;
        }
      }
    }
    return found;
  }

  draw(now) {
    const ctx = this.ctx;
    if (!this.background) return;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.background, 0, 0);
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    const t = this.tile;
    const agents = [...this.town.agents.values()].sort((a, b) => a.y - b.y || a.id - b.id);
    const radius = Math.max(4, t * 0.42);
    const nameSize = Math.max(10, Math.min(14, t * 0.7));
    const emojiSize = Math.max(11, Math.min(22, t * 0.85));
    for (const agent of agents) {
      const c = this.agentCenter(agent, now);
      if (agent.id === this.selected) {
        ctx.beginPath();
        ctx.arc(c.x, c.y, radius + 4, 0, Math.PI * 2);
        ctx.strokeStyle = "#ffeb3b";
        ctx.lineWidth = 3;
        ctx.stroke();
      }
      ctx.beginPath();
      ctx.arc(c.x, c.y, radius, 0, Math.PI * 2);
      ctx.fillStyle = agent.asleep ? alpha(agent.color, 0.55) : agent.color;
      ctx.fill();
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = "#fff";
      ctx.stroke();
      if (agent.emoji) {
        ctx.font = `${emojiSize}px ${FONT}`;
        ctx.textAlign = "center";
        ctx.textBaseline = "middle";
        ctx.fillText(agent.emoji, c.x + radius * 0.9, c.y - radius * 1.1);
      }
      ctx.font = `${nameSize}px ${FONT}`;
      const w = ctx.measureText(agent.name).width;
      const ny = c.y + radius + nameSize * 0.7 + 1;
      ctx.fillStyle = "rgba(255, 253, 248, 0.85)";
      ctx.fillRect(c.x - w / 2 - 2, ny - nameSize / 2 - 1, w + 4, nameSize + 2);
      ctx.fillStyle = "#212121";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(agent.name, c.x, ny);
    }
    for (const [id, bubble] of this.town.liveBubbles(now)) {
      const agent = this.town.agents.get(id);
      if (agent) this._bubble(this.agentCenter(agent, now), radius, bubble.text);
    }
  }

  _bubble(c, radius, text) {
    const ctx = this.ctx;
    const size = 13;
    ctx.font = `${size}px ${FONT}`;
    const lines = wrap(ctx, text, 170, 2);
    const w = Math.max(...lines.map((l) => ctx.measureText(l).width)) + 12;
    const h = lines.length * (size + 3) + 8;
    const canvasW = this.canvas.width / this.dpr;
    let x = Math.min(Math.max(2, c.x - w / 2), canvasW - w - 2);
    let y = c.y - radius - h - 10;
    if (y < 2) y = c.y + radius + 18;  // no room above: hang it below
    ctx.fillStyle = "rgba(255, 255, 255, 0.95)";
    ctx.strokeStyle = "#5d4037";
    ctx.lineWidth = 1;
    roundRect(ctx, x, y, w, h, 6);
    ctx.fill();
    ctx.stroke();
    ctx.beginPath();
    const tailY = y + h < c.y ? y + h : y;
    const dir = y + h < c.y ? 1 : -1;
    ctx.moveTo(c.x - 5, tailY);
    ctx.lineTo(c.x, tailY + 7 * dir);
    ctx.lineTo(c.x + 5, tailY);
    ctx.fill();
    ctx.fillStyle = "#212121";
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    lines.forEach((line, i) => ctx.fillText(line, x + 6, y + 4 + i * (size + 3)));
  }
}

function roundRect(ctx, x, y, w, h, r) {
  ctx.beginPath();
  ctx.moveTo(x + r, y);
  ctx.arcTo(x + w, y, x + w, y + h, r);
  ctx.arcTo(x + w, y + h, x, y + h, r);
  ctx.arcTo(x, y + h, x, y, r);
  ctx.arcTo(x, y, x + w, y, r);
  ctx.closePath();
}

// Chinese has no spaces: break anywhere, by width.
function wrap(ctx, text, maxWidth, maxLines) {
  const lines = [];
  let line = "";
  for (const ch of text) {
    if (ctx.measureText(line + ch).width > maxWidth && line) {
      lines.push(line);
      line = ch;
      if (lines.length === maxLines) break;
    } else {
      line += ch;
    }
  }
  if (lines.length < maxLines && line) lines.push(line);
  if ([...lines.join("")].length < [...text].length) {
    lines[lines.length - 1] = lines[lines.length - 1].slice(0, -1) + "…";
  }
  return lines;
}

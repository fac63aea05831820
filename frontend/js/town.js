// The town as this viewer knows it: the hello's keyframe plus every frame after it.
// Positions are tiles; each agent also remembers where it was drawn when its
// latest move began, so the renderer can slide it there instead of jumping.

const BUBBLE_MS = 5000;
const LOG_KEPT = 80;
const MAX_GLIDE_MS = 600;

export class Town {
  constructor() {
    this.hello = null;
    this.tick = -1;
    this.time = "";
    this.paused = false;
    this.speed = 0;
    this.ended = false;
    this.agents = new Map();   // id → {id, name, color, x, y, fromX, fromY, t0, glide, action, emoji, place, conv, asleep}
    this.objects = new Map();
    this.bubbles = new Map();  // speaker id → {text, until, to}
    this.log = [];             // newest first: {tick, time, text}
    this.frames = 0;
    this.hellos = 0;
    this.glideMs = 200;
    this._lastFrameAt = 0;
  }

  get names() {
    return this.hello ? this.hello.personas.map((p) => p.name) : [];
  }

  applyHello(hello, now) {
    this.hello = hello;
    this.hellos += 1;
    this.paused = hello.paused;
    this.speed = hello.speed;
    this.ended = false;
    this.agents.clear();
    this.objects.clear();
    this.bubbles.clear();
    for (const persona of hello.personas) {
      this.agents.set(persona.id, {
        id: persona.id, name: persona.name, color: persona.color,
        x: 0, y: 0, fromX: 0, fromY: 0, t0: now, glide: 0,
        action: "", emoji: "", place: "", conv: -1, asleep: false,
      });
    }
    this._applyState(hello.state, now, false);
    this._lastFrameAt = now;
  }

  applyFrame(frame, now) {
    // Glide for about as long as frames are apart, so motion looks continuous at any speed.
    const gap = now - this._lastFrameAt;
    this._lastFrameAt = now;
    if (gap > 0 && gap < 5000) this.glideMs = Math.min(MAX_GLIDE_MS, 0.7 * this.glideMs + 0.3 * gap);
    if (this.speed === 0 && !this.paused) this.glideMs = Math.min(this.glideMs, 120);
    this.frames += 1;
    this._applyState(frame, now, true);
    for (const event of frame.events || []) this._event(event, frame, now);
  }

  _applyState(frame, now, animate) {
    if (frame.key) this.objects.clear();
    for (const [id, delta] of Object.entries(frame.agents || {})) {
      const agent = this.agents.get(Number(id));
      if (!agent) continue;
      if (delta.pos) {
        const [x, y] = delta.pos;
        if (animate && (x !== agent.x || y !== agent.y)) {
          const drawn = this.drawnPos(agent, now);
          agent.fromX = drawn.x;
          agent.fromY = drawn.y;
          agent.t0 = now;
          agent.glide = this.glideMs;
        } else if (!animate) {
          agent.fromX = x;
          agent.fromY = y;
          agent.glide = 0;
        }
        agent.x = x;
        agent.y = y;
      }
      for (const field of ["action", "emoji", "place", "at", "conv", "asleep"]) {
        if (delta[field] !== undefined && delta[field] !== null) agent[field] = delta[field];
      }
    }
    for (const [address, state] of Object.entries(frame.objects || {})) this.objects.set(address, state);
    this.tick = frame.tick;
    this.time = frame.time;
  }

  drawnPos(agent, now) {
    if (!agent.glide) return { x: agent.x, y: agent.y };
    const t = Math.min(1, (now - agent.t0) / agent.glide);
    if (t >= 1) return { x: agent.x, y: agent.y };
    const ease = t * (2 - t);
    return { x: agent.fromX + (agent.x - agent.fromX) * ease, y: agent.fromY + (agent.y - agent.fromY) * ease };
  }

  liveBubbles(now) {
    for (const [id, bubble] of this.bubbles) if (bubble.until < now) this.bubbles.delete(id);
    return this.bubbles;
  }

  _name(id) {
    const agent = this.agents.get(id);
    return agent ? agent.name : `#${id}`;
  }

  _event(event, frame, now) {
    let text = null;
    switch (event.type) {
      case "say":
        this.bubbles.set(event.agent, { text: event.text, to: event.to, until: now + BUBBLE_MS });
        text = `${this._name(event.agent)} → ${this._name(event.to)}：${event.text}`;
        break;
      case "conversation_start":
        text = `💬 ${this._name(event.agent)} 和 ${this._name(event.to)} 聊了起来`;
        break;
      case "conversation_end":
        text = `${this._name(event.agent)} 和 ${this._name(event.to)} 聊完了`;
        break;
      case "event_start":
        text = `📣 ${event.text}（${(event.place || "").replaceAll("/", "›")}）开始了`;
        break;
      case "event_end":
        text = `${event.text} 结束了`;
        break;
      case "plan":
        text = `📝 ${this._name(event.agent)} 定下了今天的打算`;
        break;
      case "reflect":
        text = `💭 ${this._name(event.agent)}：${event.text}`;
        break;
      case "interview":
        text = `🎤 ${this._name(event.agent)} 答「${event.question || ""}」：${event.text}`;
        break;
      case "object":
        text = `${this._name(event.agent)} 让 ${(event.place || "").split("/").pop()} ${event.text}`;
        break;
      default:
        text = null;
    }
    if (text) {
      this.log.unshift({ tick: frame.tick, time: frame.time, text });
      if (this.log.length > LOG_KEPT) this.log.length = LOG_KEPT;
    }
  }
}

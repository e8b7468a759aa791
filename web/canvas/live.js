// Live client of one canvas node: starts a session (README "Live protocol"), queues the node's prompt with `live` on,
// sends edits (latest wins: while one update is in flight, later edits merge into one pending update; the painting
// is encoded with toBlob only when an update leaves), shows frames as they arrive on the websocket event
// FRAME_EVENT (full canvas resolution, asking for the next one after each: one in flight) and polls the status.
import { api } from "../../../scripts/api.js";
import { nextFrame } from "./util.js";

export const FRAME_EVENT = "semanticdraw.live_frame"; // nodes/host/live.py send_frame
const KEEPALIVE_MS = 5000;
const POLL_MS = 1000;
const ENDED = new Set(["ended", "failed"]);

const dataUrl = (blob) => new Promise((resolve, reject) => {
  const reader = new FileReader();
  reader.onload = () => resolve(reader.result);
  reader.onerror = () => reject(reader.error);
  reader.readAsDataURL(blob);
});

// One line for the status readout; every field is optional (servers of other versions add or drop some).
export function statusLine(s) {
  if (s?.state !== "running") return s?.message ?? s?.state ?? "";
  const fps = Number.isFinite(s.fps) ? `${s.fps.toFixed(s.fps >= 10 ? 0 : s.fps >= 1 ? 1 : 2)} fps` : "– fps";
  const latency = s.latency_ms == null ? "–" : `${Math.round(s.latency_ms)} ms`
    + (s.latency_frames == null ? "" : ` (${s.latency_frames} frames)`);
  return `${fps} · latency ${latency} · ${s.busy ? "busy" : "idle"}`;
}

export class LiveClient {
  // host: executionId(), size() -> [w, h], painting() -> Promise<Blob>, queue() -> Promise (queues the prompt with
  // live on), onStatus(status), onFrame(url, detail), onError(message), onEnd().
  constructor(host) {
    this.host = host;
    this.session = null;
  }

  get running() { return this.session !== null; }

  async call(action, body = {}) {
    const owned = this.session ? { session: this.session, token: this.token, ...body } : body;
    const res = await api.fetchApi(`/semanticdraw/live/${action}`, { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(owned) });
    const out = await res.json().catch(() => ({}));
    if (!res.ok) {
      throw Object.assign(new Error(out.error || `${action} failed (${res.status})`), { status: res.status });
    }
    return out;
  }

  async start() {
    if (this.running) return;
    const [width, height] = this.host.size();
    try {
      const started = await this.call("start", { client_id: api.clientId ?? api.initialClientId,
        node_id: this.host.executionId(), width, height });
      Object.assign(this, { session: started.session, token: started.token, sending: null, pending: null,
        polls: 0, shown: 0, lastKeepalive: performance.now(), stopping: false });
      this.host.onStatus(started.status);
      await this.host.queue();
      await this.call("frame");
      this.timer = setInterval(() => this.poll(), POLL_MS);
    } catch (err) {
      this.fail(err);
    }
  }

  async stop() {
    if (!this.running) return;
    this.stopping = true;
    try { await this.call("stop"); } catch (err) { this.host.onError(err.message); }
    await this.poll();
  }

  async poll() {
    if (!this.running) return;
    try {
      const now = performance.now(), keepalive = now - this.lastKeepalive > KEEPALIVE_MS;
      const seq = ++this.polls;
      const status = await this.call(keepalive ? "frame" : "status");
      if (keepalive) this.lastKeepalive = now;
      if (seq < this.shown) return; // an answer older than one already shown
      this.shown = seq;
      this.host.onStatus(status);
      if (ENDED.has(status.state)) this.end();
    } catch (err) {
      this.fail(err);
    }
  }

  fail(err) {
    if (err.status === 409) { // it ended meanwhile (after Stop, a poll or a frame request may still be on its way)
      this.host.onStatus({ state: "ended", message: this.stopping ? "ended: stopped" : "ended" });
    } else {
      this.host.onError(`Live: ${err.message}`);
    }
    this.end();
  }

  end() {
    clearInterval(this.timer);
    const was = this.running;
    this.session = null;
    if (was) this.host.onEnd();
  }

  send(change) {
    if (!this.running) return;
    this.pending = { ...(this.pending ?? {}), ...change };
    this.sending ??= this.flush();
  }

  async flush() {
    await nextFrame(); // out of the pointer handler that sent the edit; edits of one display frame go together
    try {
      while (this.running && this.pending) {
        const body = this.pending;
        this.pending = null;
        if (body.painting) body.painting = await dataUrl(await this.host.painting());
        if (this.running) await this.call("update", body);
      }
    } catch (err) {
      this.host.onError(`Live: ${err.message}`);
    } finally {
      this.sending = null;
    }
  }

  // A frame event of this client (routed to the node by its execution id); frames of another session are stale.
  frame(detail) {
    if (!this.running || detail.session !== this.session) return;
    this.host.onFrame(`data:${detail.mime ?? "image/jpeg"};base64,${detail.image}`, detail);
    this.call("frame").catch(() => {}); // ready for the next frame: at most one in flight
  }
}

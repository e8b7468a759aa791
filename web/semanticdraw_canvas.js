// SemanticDraw Canvas: paint with prompt-carrying brushes inside the SemanticDrawCanvas node, and Live mode.
// Plain ES module (no bundler, no CDN). Storage: the painting is a PNG in ComfyUI's input folder under a
// content-hash name (uploaded through core's /upload/image, never overwritten); the node's `painting` widget holds
// that name and its `brushes` widget the brush table as compact JSON; an uploaded background image is stored the
// same way and named by the `background_file` widget. Nothing goes to localStorage and no image data goes into the
// workflow. Live protocol: README "Paint live" (routes under /semanticdraw/live/).
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const NODE = "SemanticDrawCanvas";
const UNDO_STEPS = 100;
const SAVE_DELAY_MS = 400;
const LIVE_UPDATE_MS = 80; // at most this often during a stroke; the server keeps only the latest anyway
const KEEPALIVE_MS = 5000;
const SUBFOLDER = "semanticdraw";
const TOOL_KEYS = { b: "brush", e: "eraser", f: "fill" };
const DEFAULTS = { negative: "", mask_strength: 1, blur: 8, prompt_strength: 0.95 };
const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#bcf60c",
  "#008080", "#9a6324", "#800000", "#808000", "#000075", "#ffe119", "#fabebe", "#aaffc3"];

const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  for (const c of children) e.append(c);
  return e;
};
const widget = (node, name) => node.widgets?.find((w) => w.name === name);
const btn = (label, title, fn) =>
  el("button", { textContent: label, title, onclick: (e) => { e.preventDefault(); fn(); } });
const viewUrl = (name) => { // /view URL of a file in the input folder, named "subfolder/file"
  const slash = name.lastIndexOf("/");
  const params = { filename: name.slice(slash + 1), subfolder: slash < 0 ? "" : name.slice(0, slash), type: "input" };
  return api.apiURL(`/view?${new URLSearchParams(params)}`);
};

// Upload to the input folder through core's /upload/image under a content-hash name (never overwrites another
// file); returns the name ("subfolder/file") the node's widgets store.
async function uploadToInput(blob, prefix, extension) {
  const name = `${prefix}_${await contentHash(await blob.arrayBuffer())}.${extension}`;
  const body = new FormData();
  body.append("image", new File([blob], name, { type: blob.type }));
  body.append("subfolder", SUBFOLDER);
  body.append("type", "input");
  const res = await api.fetchApi("/upload/image", { method: "POST", body });
  if (res.status !== 200) throw new Error(`SemanticDraw Canvas: uploading ${name} failed (${res.status})`);
  const out = await res.json();
  return out.subfolder ? `${out.subfolder}/${out.name}` : out.name;
}

function hideWidget(w) {
  if (!w) return;
  w.hidden = true;
  w.computeSize = () => [0, -4];
}

async function contentHash(bytes) {
  if (globalThis.crypto?.subtle) {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    return Array.from(digest.slice(0, 12), (b) => b.toString(16).padStart(2, "0")).join("");
  }
  let h1 = 0x811c9dc5, h2 = 0x1000193; // no SubtleCrypto outside secure contexts: two 32-bit FNV-style lanes
  for (const b of new Uint8Array(bytes)) {
    h1 = Math.imul(h1 ^ b, 16777619) >>> 0;
    h2 = Math.imul(h2 ^ b, 2246822507) >>> 0;
  }
  return h1.toString(16).padStart(8, "0") + h2.toString(16).padStart(8, "0");
}

function parseBrushes(text) {
  try {
    const list = JSON.parse(text || "[]");
    return Array.isArray(list) ? list.map((b) => ({ ...DEFAULTS, ...b })) : [];
  } catch {
    return [];
  }
}

const isTextField = (e) => e instanceof HTMLInputElement && !["radio", "range", "color"].includes(e.type)
  || e instanceof HTMLTextAreaElement && !e.classList.contains("semanticdraw-keys");
const hexToRgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

// Flood fill of the region connected to (x, y) that has exactly its RGBA, in place.
function floodFill(image, x, y, rgba) {
  const { width: w, height: h, data } = image;
  const at = (i) => data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
  const start = (y * w + x) * 4;
  const target = at(start);
  const fill = rgba[0] | (rgba[1] << 8) | (rgba[2] << 16) | (rgba[3] << 24);
  if (target === fill) return false;
  const stack = [x, y];
  while (stack.length) {
    const cy = stack.pop(), cx0 = stack.pop();
    let cx = cx0;
    while (cx >= 0 && at((cy * w + cx) * 4) === target) cx--;
    cx++;
    let up = false, down = false;
    for (; cx < w && at((cy * w + cx) * 4) === target; cx++) {
      data.set(rgba, (cy * w + cx) * 4);
      for (const [ny, flag] of [[cy - 1, "up"], [cy + 1, "down"]]) {
        if (ny < 0 || ny >= h) continue;
        const match = at((ny * w + cx) * 4) === target;
        const seen = flag === "up" ? up : down;
        if (match && !seen) stack.push(cx, ny);
        if (flag === "up") up = match; else down = match;
      }
    }
  }
  return true;
}

class CanvasEditor {
  constructor(node) {
    this.node = node;
    this.w = Object.fromEntries(["width", "height", "brushes", "painting", "background_prompt", "background_file",
      "live"].map((n) => [n, widget(node, n)]));
    hideWidget(this.w.brushes);
    hideWidget(this.w.live);
    this.undo = [];
    this.redo = [];
    this.tool = "brush";
    this.size = 24;
    this.active = 0;
    this.saving = null;
    this.saveTimer = null;
    this.live = null; // {session, token, promptId, timer, ...} while Live runs
    this.brushes = parseBrushes(this.w.brushes?.value);
    this.build();
    this.resize(false);
    this.renderTable();
    const self = this;
    this.domWidget = node.addDOMWidget("canvas_editor", "semanticdraw_canvas", this.root, {
      getValue() { return { painting: self.w.painting?.value ?? "", brushes: self.w.brushes?.value ?? "[]" }; },
      setValue(v) { if (v) self.restore(v.painting, v.brushes); },
      getMinHeight: () => 260 + this.brushes.length * 30,
      serialize: false, // the painting and brushes widgets hold the state
    });
    this.domWidget.serialize = false;
    this.w.painting.serializeValue = async () => { await this.flushSave(); return this.w.painting.value; };
    for (const name of ["width", "height"]) {
      const w = this.w[name], cb = w.callback;
      w.callback = (...a) => { cb?.apply(w, a); this.resize(true); };
    }
    const bgCb = this.w.background_prompt?.callback;
    if (this.w.background_prompt) {
      this.w.background_prompt.callback = (...a) => {
        bgCb?.apply(this.w.background_prompt, a);
        this.sendLive({ background_prompt: this.w.background_prompt.value });
      };
    }
    const fileCb = this.w.background_file?.callback;
    if (this.w.background_file) {
      this.w.background_file.callback = (...a) => {
        fileCb?.apply(this.w.background_file, a);
        this.backgroundChanged();
      };
    }
  }

  // -- UI -------------------------------------------------------------------------------------------------
  build() {
    this.toolButtons = {
      brush: btn("Brush", "Paint with the selected brush (B; pen pressure sets the width; Alt+click picks the brush "
        + "under the pointer)", () => this.setTool("brush")),
      eraser: btn("Eraser", "Erase to background (E)", () => this.setTool("eraser")),
      fill: btn("Fill", "Fill the clicked area with the selected brush (F)", () => this.setTool("fill")),
    };
    this.sizeInput = el("input", { type: "range", min: 1, max: 256, value: this.size,
      title: "Brush size (pixels; [ and ])",
      oninput: () => { this.size = +this.sizeInput.value; } });
    this.liveButton = btn("Live", "Stream frames that follow your strokes (press again to Stop)",
      () => this.toggleLive());
    this.liveButton.className = "semanticdraw-live";
    this.status = el("span", { className: "semanticdraw-status", textContent: "" });
    this.filePicker = el("input", { type: "file", accept: "image/png,image/jpeg,image/webp",
      onchange: () => this.uploadBackground(this.filePicker.files[0]) });
    this.filePicker.style.display = "none";
    this.backgroundButtons = [
      btn("Image…", "Background image: unpainted pixels follow it (uploaded to the input folder)",
        () => this.canUseBackgroundFile() && this.filePicker.click()),
      btn("No image", "Remove the background image", () => this.setBackgroundFile("")),
    ];
    const tools = el("div", { className: "semanticdraw-tools" }, ...Object.values(this.toolButtons), this.sizeInput,
      btn("Clear", "Clear the painting", () => this.clear()), btn("Undo", "Undo (Ctrl+Z)", () => this.step(-1)),
      btn("Redo", "Redo (Ctrl+Y)", () => this.step(1)), ...this.backgroundButtons, this.filePicker, this.liveButton,
      this.status);
    this.table = el("div", { className: "semanticdraw-brushes" });
    this.addButton = btn("+ brush", "Add a brush (later brushes paint over earlier ones)", () => this.addBrush());
    this.canvas = el("canvas", { className: "semanticdraw-paint" });
    this.canvas.style.cssText = "position:relative;display:block;width:100%;touch-action:none;cursor:crosshair;"
      + "image-rendering:pixelated";
    this.underlay = el("img", { className: "semanticdraw-background", alt: "" }); // cover = the node's centre crop
    this.underlay.style.cssText = "position:absolute;inset:0;width:100%;height:100%;object-fit:cover;display:none";
    const paper = el("div", {}, this.underlay, this.canvas);
    paper.style.cssText = "position:relative;background:#fff;align-self:start";
    this.ctx = this.canvas.getContext("2d", { willReadFrequently: true });
    this.frame = el("img", { className: "semanticdraw-frame", alt: "live frame" });
    this.frame.style.cssText = "width:100%;display:none";
    const views = el("div", {}, paper, this.frame);
    views.style.cssText = "display:grid;grid-template-columns:1fr 1fr;gap:4px";
    this.root = el("div", { className: "semanticdraw-canvas" }, tools, this.table, this.addButton, views);
    this.root.style.cssText = "display:flex;flex-direction:column;gap:4px;font-size:12px;overflow:auto";
    this.canvas.addEventListener("pointerdown", (e) => this.down(e));
    this.canvas.addEventListener("pointermove", (e) => this.move(e));
    this.canvas.addEventListener("pointerup", (e) => this.up(e));
    this.canvas.addEventListener("pointercancel", (e) => this.up(e));
    // Keys go to a hidden textarea focused by any click in the node outside a text field: the frontend's graph undo
    // and keybindings leave text fields alone, so Ctrl+Z here undoes a stroke, not a graph change.
    this.keys = el("textarea", { className: "semanticdraw-keys", tabIndex: -1, ariaLabel: "canvas shortcuts",
      oninput: () => { this.keys.value = ""; } });
    this.keys.style.cssText = "position:absolute;width:1px;height:1px;opacity:0;pointer-events:none;resize:none";
    this.root.prepend(this.keys);
    this.root.addEventListener("keydown", (e) => this.shortcut(e));
    this.root.addEventListener("pointerup", (e) => { if (!isTextField(e.target)) this.focusKeys(); });
    this.setTool("brush");
  }

  // Ctrl+Z / Ctrl+Y undo and redo; B, E, F pick brush, eraser, fill; [ and ] shrink and grow the brush. Keys typed
  // into the node's text and number fields stay there.
  shortcut(e) {
    const typing = isTextField(e.target);
    const ctrl = e.ctrlKey || e.metaKey, key = e.key.toLowerCase();
    let handled = true;
    if (ctrl && key === "z") this.step(-1);
    else if (ctrl && key === "y") this.step(1);
    else if (typing || ctrl || e.altKey) handled = false;
    else if (TOOL_KEYS[key]) this.setTool(TOOL_KEYS[key]);
    else if (key === "[" || key === "]") this.setSize(key === "]" ? this.size * 1.25 : this.size / 1.25);
    else handled = false;
    if (handled) { e.preventDefault(); e.stopPropagation(); }
  }

  focusKeys() { this.keys.focus({ preventScroll: true }); }

  setSize(size) {
    this.size = Math.round(Math.min(256, Math.max(1, size)));
    this.sizeInput.value = this.size;
  }

  // Alt+click: the brush whose colour is under the pointer becomes the active brush (eyedropper).
  pick(e) {
    const [x, y] = this.point(e).map(Math.floor);
    const [r, g, b, a] = this.ctx.getImageData(x, y, 1, 1).data;
    const i = this.brushes.findIndex((brush) => hexToRgb(brush.colour).join() === [r, g, b].join());
    if (a === 0 || i < 0) return;
    this.active = i;
    this.renderTable();
  }

  setTool(tool) {
    this.tool = tool;
    for (const [name, b] of Object.entries(this.toolButtons)) b.style.fontWeight = name === tool ? "bold" : "";
  }

  renderTable() {
    this.table.replaceChildren(...this.brushes.map((b, i) => {
      const clamp = (v, min, max) => Math.min(max, Math.max(min, +v || 0));
      const num = (key, min, max, step, title) => el("input", { type: "number", min, max, step, value: b[key], title,
        style: "width:3.2em", onchange: (e) => this.editBrush(i, { [key]: clamp(e.target.value, min, max) }) });
      const row = el("div", { className: "semanticdraw-brush" }, // radio, colour, prompts, numbers, order, remove
        el("input", { type: "radio", name: `sd-active-${this.node.id}`, checked: i === this.active,
          title: "Paint with this brush", onchange: () => { this.active = i; } }),
        el("input", { type: "color", value: b.colour, title: "Colour (unique per brush)",
          onchange: (e) => this.recolour(i, e.target.value) }),
        el("input", { type: "text", value: b.prompt, placeholder: "prompt", maxLength: 4096, className: "sd-prompt",
          style: "flex:2;min-width:0", onchange: (e) => this.editBrush(i, { prompt: e.target.value }) }),
        el("input", { type: "text", value: b.negative, placeholder: "negative", maxLength: 4096,
          style: "flex:1;min-width:0",
          onchange: (e) => this.editBrush(i, { negative: e.target.value }) }),
        num("mask_strength", 0, 1, 0.01, "Mask strength"), num("blur", 0, 64, 0.5, "Mask blur (pixels)"),
        num("prompt_strength", 0, 1, 0.01, "Prompt strength"),
        btn("↑", "Move down the stack (painted under later brushes)", () => this.moveBrush(i, -1)),
        btn("↓", "Move up the stack (painted over earlier brushes)", () => this.moveBrush(i, 1)),
        btn("✕", "Remove the brush (its paint stays until painted over)", () => this.removeBrush(i)));
      row.style.cssText = "display:flex;gap:2px;align-items:center";
      return row;
    }));
    this.addButton.disabled = this.brushes.length >= 64;
  }

  storeBrushes() {
    const compact = this.brushes.map(({ colour, prompt, negative, mask_strength, blur, prompt_strength }) =>
      ({ colour, prompt, negative, mask_strength, blur, prompt_strength }));
    this.w.brushes.value = JSON.stringify(compact);
    this.renderTable();
    this.node.setDirtyCanvas?.(true, true);
    this.sendLive({ brushes: compact });
  }

  editBrush(i, change) { Object.assign(this.brushes[i], change); this.storeBrushes(); }
  addBrush() {
    const used = new Set(this.brushes.map((b) => b.colour));
    const colour = PALETTE.find((c) => !used.has(c))
      ?? `#${Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, "0")}`;
    this.brushes.push({ ...DEFAULTS, colour, prompt: "" });
    this.active = this.brushes.length - 1;
    this.storeBrushes();
  }
  removeBrush(i) {
    this.brushes.splice(i, 1);
    this.active = Math.min(this.active, this.brushes.length - 1);
    this.storeBrushes();
  }
  moveBrush(i, d) {
    const j = i + d;
    if (j < 0 || j >= this.brushes.length) return;
    [this.brushes[i], this.brushes[j]] = [this.brushes[j], this.brushes[i]];
    if (this.active === i) this.active = j; else if (this.active === j) this.active = i;
    this.storeBrushes();
  }
  recolour(i, colour) {
    if (this.brushes.some((b, k) => k !== i && b.colour === colour)) { // colours are unique
      this.renderTable();
      return;
    }
    const from = hexToRgb(this.brushes[i].colour), to = hexToRgb(colour);
    this.record(() => { // repaint this brush's pixels in the new colour
      const image = this.ctx.getImageData(0, 0, this.canvas.width, this.canvas.height);
      const d = image.data;
      for (let p = 0; p < d.length; p += 4) {
        if (d[p + 3] && d[p] === from[0] && d[p + 1] === from[1] && d[p + 2] === from[2]) d.set(to, p);
      }
      this.ctx.putImageData(image, 0, 0);
    });
    this.editBrush(i, { colour });
  }

  // -- painting -------------------------------------------------------------------------------------------
  resize(keep) {
    const W = +this.w.width.value, H = +this.w.height.value;
    if (this.canvas.width === W && this.canvas.height === H) return;
    const old = keep && this.canvas.width ? this.ctx.getImageData(0, 0, this.canvas.width, this.canvas.height) : null;
    this.canvas.width = W;
    this.canvas.height = H;
    if (old) { this.ctx.putImageData(old, 0, 0); this.changed(); }
    this.undo = [];
    this.redo = [];
  }

  point(e) {
    const r = this.canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * this.canvas.width / r.width, (e.clientY - r.top) * this.canvas.height / r.height];
  }

  down(e) {
    if (e.button !== 0) return;
    e.preventDefault();
    e.stopPropagation();
    this.focusKeys();
    if (e.altKey) { this.pick(e); return; }
    const brush = this.brushes[this.active];
    if (!brush && this.tool !== "eraser") return;
    if (this.tool === "fill") {
      const [x, y] = this.point(e).map(Math.floor);
      this.record(() => {
        const image = this.ctx.getImageData(0, 0, this.canvas.width, this.canvas.height);
        if (floodFill(image, x, y, [...hexToRgb(brush.colour), 255])) this.ctx.putImageData(image, 0, 0);
      });
      this.changed();
      return;
    }
    this.canvas.setPointerCapture(e.pointerId);
    this.before = this.ctx.getImageData(0, 0, this.canvas.width, this.canvas.height);
    this.last = this.point(e);
    this.box = [...this.last, ...this.last];
    this.stroke([e]);
  }

  move(e) {
    if (!this.before) return;
    e.preventDefault();
    this.stroke(e.getCoalescedEvents?.().length ? e.getCoalescedEvents() : [e]);
    const now = performance.now();
    if (this.live && now - (this.lastLive || 0) > LIVE_UPDATE_MS) {
      this.lastLive = now;
      this.sendLive({ painting: true });
    }
  }

  stroke(events) {
    const c = this.ctx, brush = this.brushes[this.active];
    c.save();
    c.globalCompositeOperation = this.tool === "eraser" ? "destination-out" : "source-over";
    c.strokeStyle = c.fillStyle = this.tool === "eraser" ? "#000" : brush.colour;
    c.lineCap = c.lineJoin = "round";
    for (const ev of events) {
      const p = this.point(ev);
      const pressure = ev.pointerType === "pen" ? Math.max(ev.pressure, 0.05) : 1;
      c.lineWidth = this.size * pressure;
      c.beginPath();
      c.moveTo(...this.last);
      c.lineTo(...p);
      c.stroke();
      const r = c.lineWidth / 2 + 2;
      this.box = [Math.min(this.box[0], p[0] - r), Math.min(this.box[1], p[1] - r),
        Math.max(this.box[2], p[0] + r), Math.max(this.box[3], p[1] + r)];
      this.last = p;
    }
    c.restore();
  }

  up(e) {
    if (!this.before) return;
    const [W, H] = [this.canvas.width, this.canvas.height];
    const x0 = Math.max(0, Math.floor(this.box[0])), y0 = Math.max(0, Math.floor(this.box[1]));
    const x1 = Math.min(W, Math.ceil(this.box[2])), y1 = Math.min(H, Math.ceil(this.box[3]));
    if (x1 > x0 && y1 > y0) { // keep only the changed rectangle, before and after
      const before = new ImageData(x1 - x0, y1 - y0);
      for (let y = y0; y < y1; y++) {
        before.data.set(this.before.data.subarray((y * W + x0) * 4, (y * W + x1) * 4), (y - y0) * (x1 - x0) * 4);
      }
      this.push({ x: x0, y: y0, before, after: this.ctx.getImageData(x0, y0, x1 - x0, y1 - y0) });
    }
    this.before = null;
    this.changed();
  }

  record(fn) { // an operation on the whole canvas, undoable
    const before = this.ctx.getImageData(0, 0, this.canvas.width, this.canvas.height);
    fn();
    this.push({ x: 0, y: 0, before, after: this.ctx.getImageData(0, 0, this.canvas.width, this.canvas.height) });
  }

  push(entry) {
    this.undo.push(entry);
    if (this.undo.length > UNDO_STEPS) this.undo.shift();
    this.redo = [];
  }

  step(direction) {
    const [from, to] = direction < 0 ? [this.undo, this.redo] : [this.redo, this.undo];
    const entry = from.pop();
    if (!entry) return;
    this.ctx.putImageData(direction < 0 ? entry.before : entry.after, entry.x, entry.y);
    to.push(entry);
    this.changed();
  }

  clear() {
    this.record(() => this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height));
    this.changed();
  }

  changed() {
    this.sendLive({ painting: true });
    clearTimeout(this.saveTimer);
    this.dirty = true;
    this.saveTimer = setTimeout(() => this.flushSave(), SAVE_DELAY_MS);
  }

  // -- persistence ----------------------------------------------------------------------------------------
  async flushSave() {
    clearTimeout(this.saveTimer);
    while (this.saving) await this.saving;
    if (!this.dirty) return;
    this.dirty = false;
    this.saving = this.upload().finally(() => { this.saving = null; });
    await this.saving;
  }

  async upload() {
    const blob = await new Promise((resolve) => this.canvas.toBlob(resolve, "image/png"));
    try {
      this.w.painting.value = await uploadToInput(blob, "canvas", "png");
    } catch (err) {
      this.dirty = true;
      throw err;
    }
    this.node.setDirtyCanvas?.(true, true);
    app.graph?.change?.();
  }

  // -- background image ---------------------------------------------------------------------------------
  canUseBackgroundFile() {
    const linked = this.node.inputs?.find((i) => i.name === "background_image")?.link != null;
    if (linked) this.setStatus("the background_image input is connected and wins; disconnect it to use a file");
    return !linked;
  }

  async uploadBackground(file) {
    this.filePicker.value = "";
    if (!file) return;
    const extension = { "image/jpeg": "jpg", "image/webp": "webp" }[file.type] ?? "png";
    try {
      this.setBackgroundFile(await uploadToInput(file, "background", extension));
    } catch (err) {
      this.setStatus(err.message);
    }
  }

  setBackgroundFile(name) {
    if (!this.w.background_file) return;
    this.w.background_file.value = name;
    this.node.setDirtyCanvas?.(true, true);
    app.graph?.change?.();
    this.backgroundChanged();
  }

  backgroundChanged() {
    this.showBackground();
    this.sendLive({ background_file: this.w.background_file.value });
  }

  showBackground() {
    const name = this.w.background_file?.value ?? "";
    this.underlay.style.display = name ? "" : "none";
    if (name) this.underlay.src = viewUrl(name);
    else this.underlay.removeAttribute("src");
  }

  async restore(painting, brushes) {
    if (brushes !== undefined) {
      this.w.brushes.value = brushes;
      this.brushes = parseBrushes(brushes);
      this.active = Math.min(this.active, Math.max(0, this.brushes.length - 1));
      this.renderTable();
    }
    if (painting !== undefined) this.w.painting.value = painting;
    this.resize(false);
    this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.dirty = false;
    this.undo = [];
    this.redo = [];
    this.showBackground();
    const name = this.w.painting.value;
    if (!name) { this.loaded = Promise.resolve(); return; }
    const img = new Image();
    this.loaded = new Promise((resolve) => {
      img.onload = () => { this.ctx.drawImage(img, 0, 0, this.canvas.width, this.canvas.height); resolve(); };
      img.onerror = () => { this.setStatus(`painting ${name} not found in the input folder`); resolve(); };
    });
    img.src = viewUrl(name);
    await this.loaded;
  }

  setStatus(text) { this.status.textContent = text; }

  // -- live -----------------------------------------------------------------------------------------------
  async liveCall(action, body = {}) {
    const owned = this.live ? { session: this.live.session, token: this.live.token, ...body } : body;
    const res = await api.fetchApi(`/semanticdraw/live/${action}`, { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(owned) });
    const out = await res.json();
    if (!res.ok) throw new Error(out.error || `${action} failed (${res.status})`);
    return out;
  }

  async toggleLive() {
    if (this.live) { await this.stopLive(); return; }
    try {
      await this.flushSave();
      const started = await this.liveCall("start", { client_id: api.clientId ?? api.initialClientId,
        node_id: String(this.node.id), width: this.canvas.width, height: this.canvas.height });
      this.live = { session: started.session, token: started.token, sending: null, pending: null };
      this.liveButton.textContent = "Stop";
      this.frame.style.display = "";
      this.w.live.value = true;
      try { await app.queuePrompt(0, 1); } finally { this.w.live.value = false; }
      await this.liveCall("frame");
      this.live.keepalive = setInterval(() => this.pollLive(), KEEPALIVE_MS / 5);
      this.live.lastKeepalive = performance.now();
    } catch (err) {
      this.setStatus(`Live: ${err.message}`);
      this.endLive();
    }
  }

  async pollLive() {
    if (!this.live) return;
    try {
      const now = performance.now(), live = this.live;
      const keepalive = now - live.lastKeepalive > KEEPALIVE_MS;
      const seq = live.polls = (live.polls || 0) + 1;
      const s = await this.liveCall(keepalive ? "frame" : "status");
      if (keepalive) live.lastKeepalive = now;
      if (seq < (live.shown || 0)) return; // an answer older than one already shown
      live.shown = seq;
      const lat = s.latency_ms == null ? "–" : `${Math.round(s.latency_ms)} ms (${s.latency_frames} frames)`;
      const busy = s.busy ? "busy" : "idle";
      this.setStatus(s.state === "running" ? `${s.fps.toFixed(1)} fps · latency ${lat} · ${busy}` : s.message);
      Object.assign(this.root.dataset, { liveState: s.state, liveFrames: s.frames, framesSent: s.frames_sent,
        busy: s.busy, pending: s.pending, promptsEncoded: s.prompts_encoded, maskUpdates: s.mask_updates,
        latencyFrames: s.latency_frames ?? "" });
      if (s.state === "ended") this.endLive();
    } catch (err) {
      this.setStatus(`Live: ${err.message}`);
      this.endLive();
    }
  }

  async stopLive() {
    try { await this.liveCall("stop"); } catch (err) { this.setStatus(`Live: ${err.message}`); }
    await this.pollLive();
  }

  endLive() {
    if (this.live?.keepalive) clearInterval(this.live.keepalive);
    this.live = null;
    this.liveButton.textContent = "Live";
    this.root.dataset.liveState = "ended";
  }

  // Latest wins: while one update is in flight, later changes merge into one pending update.
  sendLive(change) {
    if (!this.live) return;
    this.live.pending = { ...(this.live.pending || {}), ...change };
    if (!this.live.sending) this.live.sending = this.flushLive();
  }

  async flushLive() {
    try {
      while (this.live?.pending) {
        const body = this.live.pending;
        this.live.pending = null;
        if (body.painting) body.painting = this.canvas.toDataURL("image/png");
        await this.liveCall("update", body);
      }
    } catch (err) {
      this.setStatus(`Live: ${err.message}`);
    } finally {
      if (this.live) this.live.sending = null;
    }
  }

  onPreview(detail) {
    if (!this.live || String(detail.nodeId) !== String(this.node.id)) return;
    const url = URL.createObjectURL(detail.blob);
    const old = this.frame.src;
    this.frame.onload = () => { if (old.startsWith("blob:")) URL.revokeObjectURL(old); };
    this.frame.src = url;
    this.root.dataset.previews = String((+this.root.dataset.previews || 0) + 1);
    this.liveCall("frame").catch(() => {}); // ready for the next frame: at most one in flight
  }
}

app.registerExtension({
  name: "SemanticDraw.Canvas",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name !== NODE) return;
    const created = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const out = created?.apply(this, arguments);
      this.semanticdrawCanvas = new CanvasEditor(this);
      this.semanticdrawCanvas.restore();
      this.setSize([Math.max(this.size[0], 400), Math.max(this.size[1], 760)]);
      return out;
    };
    const configure = nodeType.prototype.onConfigure;
    nodeType.prototype.onConfigure = function () {
      const out = configure?.apply(this, arguments);
      const editor = this.semanticdrawCanvas;
      if (editor) {
        editor.w.live.value = false; // Live is only ever on for the prompt its button queues
        editor.restore(editor.w.painting.value, editor.w.brushes.value);
      }
      return out;
    };
    const removed = nodeType.prototype.onRemoved;
    nodeType.prototype.onRemoved = function () {
      if (this.semanticdrawCanvas?.live) this.semanticdrawCanvas.stopLive();
      return removed?.apply(this, arguments);
    };
  },
  setup() {
    api.addEventListener("b_preview_with_metadata", ({ detail }) => {
      for (const node of app.graph?._nodes ?? []) node.semanticdrawCanvas?.onPreview(detail);
    });
  },
});

export { CanvasEditor, floodFill, contentHash };

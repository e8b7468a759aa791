// SemanticDraw Canvas: paint with prompt-carrying brushes and watch live frames follow the strokes. This module ties
// one canvas node to its parts (web/canvas/: painting.js, brushes.js, live.js, editor.js, semanticdraw.css).
// The node shows a compact view (Editor and Live buttons, the status, the painting and the latest frame side by
// side); painting happens in the full-window Editor.
// Storage: the painting is a PNG in ComfyUI's input folder under a content-hash name (uploaded through core's
// /upload/image, never overwritten); the hidden `painting` widget holds that name, the hidden `brushes` widget the
// brush table as compact JSON and the hidden `background_file` widget an uploaded background image. They are saved
// with the workflow; nothing goes to localStorage and no image data goes into the workflow.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { BrushTable, brushesJson, parseBrushes } from "./canvas/brushes.js";
import { EditorDialog } from "./canvas/editor.js";
import { FRAME_EVENT, LiveClient, statusLine } from "./canvas/live.js";
import { Painting, unusedColours } from "./canvas/painting.js";
import { button, el, imageFile, uploadToInput, viewUrl } from "./canvas/util.js";

const NODE = "SemanticDrawCanvas";
const WIDGETS = ["width", "height", "brushes", "painting", "background_prompt", "background_file", "live",
  "progressive"];
const STORAGE = ["painting", "background_file", "brushes", "live"]; // hidden from view, saved with the workflow
const SAVE_DELAY_MS = 400;
const THUMB_SIDE = 512; // the node's painting view is drawn at most this large
const VIEW_MIN_HEIGHT = 220; // px of the node's compact view
const EXTENSIONS = { "image/jpeg": "jpg", "image/webp": "webp" };

function hideWidget(w) {
  if (!w) return;
  w.hidden = true;
  w.computeSize = () => [0, -4]; // frontends before widget visibility (1.27) still lay hidden widgets out
}

// The node's execution id: its id, or inside a subgraph the path of node ids from the root graph ("12:5").
function executionId(node) {
  const search = (graph, prefix) => {
    for (const n of graph?.nodes ?? []) {
      if (n === node) return [...prefix, n.id];
      const inner = n.subgraph && search(n.subgraph, [...prefix, n.id]);
      if (inner) return inner;
    }
    return null;
  };
  return (search(node.graph?.rootGraph ?? app.graph, []) ?? [node.id]).join(":");
}

// The node an execution id names, looking each id up with getNodeById in the subgraph of the one before.
function nodeByExecutionId(id) {
  let graph = app.rootGraph ?? app.graph, node = null;
  for (const part of String(id).split(":")) {
    node = graph?.getNodeById(part) ?? null;
    graph = node?.subgraph;
  }
  return node;
}

class CanvasNode {
  constructor(node) {
    this.node = node;
    this.w = Object.fromEntries(WIDGETS.map((n) => [n, node.widgets?.find((w) => w.name === n)]));
    STORAGE.forEach((n) => hideWidget(this.w[n]));
    Object.assign(this, { statusText: "", frameUrl: "", backgroundUrl: "", previews: 0, dirty: false,
      saving: null, saveTimer: null, thumbQueued: false });
    this.painting = new Painting({ brush: () => this.table.current, onPick: (c) => this.table.selectColour(c),
      onInput: () => this.paintingInput(), onChange: () => this.paintingChanged() });
    this.table = new BrushTable({ onChange: (change) => this.brushesChanged(change) });
    this.live = new LiveClient({
      executionId: () => executionId(this.node),
      size: () => [this.painting.width, this.painting.height],
      painting: () => this.painting.toBlob(),
      queue: () => this.queueLive(),
      onStatus: (s) => this.liveStatus(s),
      onFrame: (url) => this.showFrame(url),
      onError: (message) => this.setStatus(message),
      onEnd: () => this.refresh(),
    });
    this.editor = new EditorDialog(this);
    this.buildView();
    this.painting.resize(+this.w.width.value, +this.w.height.value, false);
    this.chain("width", () => this.resized());
    this.chain("height", () => this.resized());
    this.chain("background_prompt", (v) => this.live.send({ background_prompt: v }));
    this.chain("background_file", () => this.backgroundChanged());
    this.w.painting.serializeValue = async () => { await this.flushSave(); return this.w.painting.value; };
  }

  widget(name) { return this.w[name]; }

  chain(name, fn) {
    const w = this.w[name], previous = w?.callback;
    if (w) w.callback = function (...args) { previous?.apply(this, args); fn(w.value); };
  }

  setWidget(name, value) {
    const w = this.w[name];
    if (!w) return;
    w.value = value;
    w.callback?.(value);
    this.node.setDirtyCanvas?.(true, true);
    app.graph?.change?.();
  }

  // -- the node's compact view ----------------------------------------------------------------------------
  buildView() {
    this.liveButton = button("Live", "Stream frames that follow your strokes (press again to Stop)",
      () => this.toggleLive(), "sd-live");
    this.status = el("span", { className: "sd-status", role: "status" });
    this.thumb = el("canvas", { className: "sd-thumb", title: "The painting (paint in the Editor)" });
    this.frame = el("img", { className: "sd-frame", alt: "latest live frame" });
    this.filePicker = el("input", { type: "file", accept: "image/png,image/jpeg,image/webp", hidden: true,
      onchange: () => { this.uploadBackground(this.filePicker.files[0]); this.filePicker.value = ""; } });
    this.root = el("div", { className: "semanticdraw sd-node" },
      el("div", { className: "sd-node-bar" },
        button("Editor", "Open the full-window editor: paint, brushes, Live", () => this.editor.open(), "sd-open"),
        this.liveButton, this.status),
      el("div", { className: "sd-views" },
        el("div", { className: "sd-view" }, this.thumb),
        el("div", { className: "sd-view" }, this.frame,
          el("span", { className: "sd-placeholder", textContent: "Live frames appear here" }))),
      this.filePicker);
    for (const type of ["dragover", "drop"]) {
      this.root.addEventListener(type, (e) => {
        if (!imageFile(e.dataTransfer) && !e.dataTransfer?.types?.includes("Files")) return;
        e.preventDefault();
        e.stopPropagation();
        if (e.type === "drop") this.uploadBackground(imageFile(e.dataTransfer));
      });
    }
    this.domWidget = this.node.addDOMWidget("canvas_view", "semanticdraw_canvas", this.root, {
      serialize: false, hideOnZoom: false, getMinHeight: () => VIEW_MIN_HEIGHT,
    });
    this.domWidget.serialize = false; // the storage widgets hold the state
    this.background = new Image();
    this.background.onload = () => this.drawThumb();
  }

  refresh() {
    this.liveButton.textContent = this.live.running ? "Stop" : "Live";
    this.liveButton.classList.toggle("sd-on", this.live.running);
    this.status.textContent = this.statusText;
    this.status.title = this.statusText;
    if (this.frameUrl && this.frame.src !== this.frameUrl) this.frame.src = this.frameUrl;
    this.root.dataset.liveState = this.live.running ? this.root.dataset.liveState ?? "" : "ended";
    if (this.editor.isOpen) this.editor.refresh();
  }

  setStatus(text) { this.statusText = text; this.refresh(); }

  // The painting over the background image (centre-cropped as the node encodes it), at most THUMB_SIDE pixels.
  drawThumb() {
    this.thumbQueued = false;
    const { width: W, height: H } = this.painting, scale = Math.min(1, THUMB_SIDE / Math.max(W, H));
    const t = this.thumb, ctx = t.getContext("2d");
    [t.width, t.height] = [Math.max(1, Math.round(W * scale)), Math.max(1, Math.round(H * scale))];
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, t.width, t.height);
    const bg = this.background;
    if (this.backgroundUrl && bg.complete && bg.naturalWidth) {
      const s = Math.max(t.width / bg.naturalWidth, t.height / bg.naturalHeight);
      const sw = t.width / s, sh = t.height / s;
      ctx.drawImage(bg, (bg.naturalWidth - sw) / 2, (bg.naturalHeight - sh) / 2, sw, sh, 0, 0, t.width, t.height);
    }
    ctx.drawImage(this.painting.canvas, 0, 0, t.width, t.height);
  }

  queueThumb() {
    if (this.thumbQueued) return;
    this.thumbQueued = true;
    requestAnimationFrame(() => this.drawThumb());
  }

  editorClosed() { this.drawThumb(); this.node.setDirtyCanvas?.(true, true); }

  // -- painting and brushes ---------------------------------------------------------------------------------
  paintingInput() {
    this.live.send({ painting: true });
    this.queueThumb();
  }

  paintingChanged() {
    this.paintingInput();
    this.dirty = true;
    clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => this.flushSave().catch((err) => this.setStatus(err.message)), SAVE_DELAY_MS);
  }

  brushesChanged(change) {
    this.w.brushes.value = brushesJson(this.table.brushes);
    this.node.setDirtyCanvas?.(true, true);
    app.graph?.change?.();
    this.live.send({ brushes: JSON.parse(this.w.brushes.value) });
    if (change.recolour) {
      const [from, to] = change.recolour;
      this.painting.recolour(from, to, this.table.brushes.map((b) => b.colour).filter((c) => c !== to));
    }
    else this.checkColours();
  }

  checkColours() {
    this.table.warn(unusedColours(this.painting.image(), this.table.brushes.map((b) => b.colour)));
  }

  resized() {
    if (this.painting.resize(+this.w.width.value, +this.w.height.value, true)) this.paintingChanged();
    this.refresh();
  }

  async flushSave() {
    clearTimeout(this.saveTimer);
    while (this.saving) await this.saving;
    if (!this.dirty) return;
    this.dirty = false;
    this.saving = this.upload().finally(() => { this.saving = null; });
    await this.saving;
  }

  async upload() {
    try {
      this.w.painting.value = await uploadToInput(await this.painting.toBlob(), "canvas", "png");
    } catch (err) {
      this.dirty = true;
      throw err;
    }
    this.checkColours();
    this.node.setDirtyCanvas?.(true, true);
    app.graph?.change?.();
  }

  // The stored state (workflow load, graph undo): brushes, painting file, background file.
  async restore() {
    this.table.set(parseBrushes(this.w.brushes.value));
    this.painting.resize(+this.w.width.value, +this.w.height.value, false);
    this.painting.load(null);
    this.dirty = false;
    this.backgroundChanged(false);
    const name = this.w.painting.value;
    this.loaded = new Promise((resolve) => {
      if (!name) { resolve(); return; }
      const img = new Image();
      img.onload = () => { this.painting.load(img); resolve(); };
      img.onerror = () => { this.setStatus(`painting ${name} not found in the input folder`); resolve(); };
      img.src = viewUrl(name);
    });
    await this.loaded;
    this.drawThumb();
    this.checkColours();
    this.refresh();
  }

  // -- background image -------------------------------------------------------------------------------------
  pickBackground() {
    if (this.canUseBackgroundFile()) this.filePicker.click();
  }

  canUseBackgroundFile() {
    const linked = this.node.inputs?.find((i) => i.name === "background_image")?.link != null;
    if (linked) this.setStatus("the background_image input is connected and wins; disconnect it to use a file");
    return !linked;
  }

  // An image file chosen, dropped or pasted: uploaded to the input folder, it becomes the background.
  async uploadBackground(file) {
    if (!file || !this.canUseBackgroundFile()) return;
    try {
      this.setBackgroundFile(await uploadToInput(file, "background", EXTENSIONS[file.type] ?? "png"));
    } catch (err) {
      this.setStatus(err.message);
    }
  }

  setBackgroundFile(name) { this.setWidget("background_file", name); }

  backgroundChanged(send = true) {
    const name = this.w.background_file?.value ?? "";
    this.backgroundUrl = name ? viewUrl(name) : "";
    if (this.backgroundUrl) this.background.src = this.backgroundUrl;
    else this.background.removeAttribute("src");
    this.drawThumb();
    this.refresh();
    if (send) this.live.send({ background_file: name });
  }

  // -- live -----------------------------------------------------------------------------------------------
  async toggleLive() {
    if (this.live.running) { await this.live.stop(); return; }
    try {
      await this.flushSave();
    } catch (err) {
      this.setStatus(err.message);
      return;
    }
    this.previews = 0;
    await this.live.start();
    this.refresh();
  }

  async queueLive() { // the node's prompt with `live` on, for this run only
    this.w.live.value = true;
    this.refresh();
    try { await app.queuePrompt(0, 1); } finally { this.w.live.value = false; }
  }

  liveStatus(s) {
    this.statusText = statusLine(s);
    Object.assign(this.root.dataset, { liveState: s.state ?? "", liveFrames: s.frames ?? 0,
      framesSent: s.frames_sent ?? 0, busy: !!s.busy, pending: !!s.pending, promptsEncoded: s.prompts_encoded ?? 0,
      maskUpdates: s.mask_updates ?? 0, latencyFrames: s.latency_frames ?? "" });
    this.refresh();
  }

  showFrame(url) {
    this.frameUrl = url;
    this.root.dataset.previews = String(++this.previews);
    this.refresh();
  }
}

function addStylesheet() {
  if (document.getElementById("semanticdraw-css")) return;
  document.head.append(el("link", { id: "semanticdraw-css", rel: "stylesheet",
    href: new URL("./canvas/semanticdraw.css", import.meta.url).href }));
}

app.registerExtension({
  name: "SemanticDraw.Canvas",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name !== NODE) return;
    const created = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const out = created?.apply(this, arguments);
      this.semanticdrawCanvas = new CanvasNode(this);
      this.semanticdrawCanvas.restore();
      this.setSize([Math.max(this.size[0], 420), Math.max(this.size[1], this.computeSize()[1])]);
      return out;
    };
    const configure = nodeType.prototype.onConfigure;
    nodeType.prototype.onConfigure = function () {
      const out = configure?.apply(this, arguments);
      const canvas = this.semanticdrawCanvas;
      if (canvas) {
        canvas.w.live.value = false; // Live is only ever on for the prompt its button queues
        canvas.restore();
      }
      return out;
    };
    const removed = nodeType.prototype.onRemoved;
    nodeType.prototype.onRemoved = function () {
      this.semanticdrawCanvas?.live.stop();
      this.semanticdrawCanvas?.editor.close();
      return removed?.apply(this, arguments);
    };
  },
  setup() {
    addStylesheet();
    api.addEventListener(FRAME_EVENT, ({ detail }) => nodeByExecutionId(detail.node_id)?.semanticdrawCanvas
      ?.live.frame(detail));
  },
});

export { CanvasNode, executionId, nodeByExecutionId };

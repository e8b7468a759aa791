// The full-window Editor of a canvas node (as core's mask editor): the painting at canvas resolution fitted to the
// window, the tools, the brush table with whole prompts, the background prompt and the Live controls; the live frame
// beside the painting or blended over it (toggle + opacity). Escape or Close returns to the graph. Keys pressed here
// stay here (Ctrl+Z undoes a stroke, not a graph change): the dialog is aria-modal and, while it is open, says so
// through the frontend's hook for core's mask editor (`maskeditor_is_opended`), which the graph's undo consults.
import { app } from "../../../scripts/app.js";
import { TOOLS } from "./painting.js";
import { button, el, imageFile, isTextField } from "./util.js";

const TOOL_KEYS = { b: "brush", e: "eraser", f: "fill" };
const TOOL_TITLES = {
  brush: "Paint with the selected brush (B; pen pressure sets the width; Alt+click picks the brush under the pointer)",
  eraser: "Erase to background (E)",
  fill: "Fill the clicked area with the selected brush (F)",
};
const GAP = 12; // px between and around the panels

export class EditorDialog {
  // owner: the canvas node's controller (web/semanticdraw_canvas.js CanvasNode).
  constructor(owner) {
    this.owner = owner;
    this.view = "beside"; // or "blend"
    this.build();
  }

  get isOpen() { return this.root.isConnected; }

  build() {
    const { owner } = this, painting = owner.painting;
    this.toolButtons = Object.fromEntries(TOOLS.map((t) => [t, button(t[0].toUpperCase() + t.slice(1),
      TOOL_TITLES[t], () => this.setTool(t), "sd-tool")]));
    this.sizeValue = el("span", { className: "sd-value" });
    this.sizeInput = el("input", { type: "range", min: 1, max: 256, title: "Brush size in canvas pixels ([ and ])",
      className: "sd-size", oninput: () => this.setSize(+this.sizeInput.value) });
    this.liveButton = button("Live", "Stream frames that follow your strokes (press again to Stop)",
      () => owner.toggleLive(), "sd-live");
    this.status = el("span", { className: "sd-status", role: "status" });
    this.viewButton = button("Blend", "Show the live frame over the painting (or beside it)",
      () => this.setView(this.view === "beside" ? "blend" : "beside"), "sd-view");
    this.opacity = el("input", { type: "range", min: 0, max: 100, value: 60, className: "sd-opacity",
      title: "Opacity of the live frame over the painting", oninput: () => this.layout() });
    const progressive = owner.widget("progressive");
    this.progressive = progressive && el("input", { type: "checkbox", checked: !!progressive.value,
      onchange: (e) => owner.setWidget("progressive", e.target.checked) });
    const group = (...children) => el("div", { className: "sd-group" }, ...children);
    const toolbar = el("div", { className: "sd-toolbar" },
      group(...Object.values(this.toolButtons)),
      group(el("label", { className: "sd-label", textContent: "Size" }), this.sizeInput, this.sizeValue),
      group(button("Undo", "Undo (Ctrl+Z)", () => painting.step(-1)),
        button("Redo", "Redo (Ctrl+Y)", () => painting.step(1)),
        button("Clear", "Clear the painting", () => painting.clear())),
      group(button("Image…", "Background image: unpainted pixels follow it (or drop or paste one on the painting)",
        () => owner.pickBackground()),
      button("No image", "Remove the background image", () => owner.setBackgroundFile(""))),
      group(this.liveButton, this.progressive && el("label", { className: "sd-check",
        title: "Progressive live display (the progressive input)" }, this.progressive, "progressive"),
      this.viewButton, el("label", { className: "sd-label", textContent: "Opacity" }), this.opacity),
      this.status);

    this.underlay = el("img", { className: "sd-underlay", alt: "" });
    this.overlay = el("img", { className: "sd-frame sd-overlay", alt: "live frame over the painting" });
    this.paper = el("div", { className: "sd-panel sd-paper" }, this.underlay, painting.canvas, this.overlay);
    this.frame = el("img", { className: "sd-frame", alt: "live frame" });
    this.framePanel = el("div", { className: "sd-panel sd-frame-panel" }, this.frame);
    this.stage = el("div", { className: "sd-stage" }, this.paper, this.framePanel);
    for (const type of ["dragover", "drop"]) this.stage.addEventListener(type, (e) => this.drop(e));

    this.backgroundPrompt = el("textarea", { className: "sd-background-prompt", rows: 3, spellcheck: false,
      placeholder: "what unpainted pixels show",
      onchange: (e) => owner.setWidget("background_prompt", e.target.value) });
    const sidebar = el("aside", { className: "sd-sidebar" },
      el("h3", { textContent: "Brushes" }), owner.table.element,
      el("h3", { textContent: "Background prompt" }), this.backgroundPrompt);

    this.sizeLabel = el("span", { className: "sd-dim" });
    this.root = el("div", { className: "semanticdraw sd-editor", tabIndex: -1, role: "dialog", ariaModal: "true",
      ariaLabel: "SemanticDraw Canvas editor" },
    el("header", { className: "sd-editor-header" }, el("h2", { textContent: "SemanticDraw Canvas" }), this.sizeLabel,
      el("span", { className: "sd-spacer" }), button("Close", "Back to the graph (Escape)", () => this.close())),
    toolbar, el("div", { className: "sd-editor-body" }, this.stage, sidebar));
    this.root.addEventListener("keydown", (e) => this.key(e));
    this.root.addEventListener("paste", (e) => this.paste(e));
    this.resizer = new ResizeObserver(() => this.layout());
  }

  open() {
    if (this.isOpen) return;
    document.body.append(this.root);
    this.editorHook = app.constructor.maskeditor_is_opended;
    app.constructor.maskeditor_is_opended = () => true;
    this.backgroundPrompt.value = this.owner.widget("background_prompt")?.value ?? "";
    if (this.progressive) this.progressive.checked = !!this.owner.widget("progressive").value;
    this.setTool(this.owner.painting.tool);
    this.setSize(this.owner.painting.size);
    this.resizer.observe(this.stage);
    this.refresh();
    this.root.focus({ preventScroll: true });
  }

  close() {
    if (!this.isOpen) return;
    this.resizer.disconnect();
    this.root.remove();
    app.constructor.maskeditor_is_opended = this.editorHook;
    this.owner.editorClosed();
  }

  // Everything the owner's state decides: live button, status, background image, frame, canvas size.
  refresh() {
    const { owner } = this;
    this.liveButton.textContent = owner.live.running ? "Stop" : "Live";
    this.liveButton.classList.toggle("sd-on", owner.live.running);
    this.status.textContent = owner.statusText;
    this.status.title = owner.statusText;
    const background = owner.backgroundUrl;
    this.underlay.hidden = !background;
    if (background && this.underlay.src !== background) this.underlay.src = background;
    for (const img of [this.frame, this.overlay]) {
      if (owner.frameUrl && img.src !== owner.frameUrl) img.src = owner.frameUrl;
    }
    this.sizeLabel.textContent = `${owner.painting.width} × ${owner.painting.height}`;
    this.layout();
  }

  // Fit the painting (and the frame beside it) to the stage, keeping the canvas' aspect ratio.
  layout() {
    if (!this.isOpen) return;
    const { width: W, height: H } = this.owner.painting;
    const hasFrame = !!this.owner.frameUrl;
    const beside = this.view === "beside" && (hasFrame || this.owner.live.running);
    const panels = beside ? 2 : 1;
    const availW = (this.stage.clientWidth - GAP * (panels + 1)) / panels, availH = this.stage.clientHeight - 2 * GAP;
    const scale = Math.max(0.01, Math.min(availW / W, availH / H));
    for (const panel of [this.paper, this.framePanel]) {
      panel.style.width = `${Math.floor(W * scale)}px`;
      panel.style.height = `${Math.floor(H * scale)}px`;
    }
    this.framePanel.hidden = !beside;
    this.overlay.hidden = this.view !== "blend" || !hasFrame;
    this.overlay.style.opacity = String(this.opacity.value / 100);
    this.opacity.disabled = this.view !== "blend";
    this.viewButton.textContent = this.view === "beside" ? "Blend" : "Beside";
  }

  setView(view) { this.view = view; this.layout(); }

  setTool(tool) {
    this.owner.painting.tool = tool;
    for (const [name, b] of Object.entries(this.toolButtons)) b.classList.toggle("sd-on", name === tool);
  }

  setSize(size) {
    this.owner.painting.setSize(size);
    this.sizeInput.value = this.owner.painting.size;
    this.sizeValue.textContent = `${this.owner.painting.size} px`;
  }

  // Escape closes; Ctrl+Z / Ctrl+Y undo and redo strokes; B, E, F pick a tool; [ and ] resize the brush. Keys typed
  // into text fields stay there; no key reaches the graph while the editor is open.
  key(e) {
    const painting = this.owner.painting, typing = isTextField(e.target);
    const ctrl = e.ctrlKey || e.metaKey, key = e.key.toLowerCase();
    e.stopPropagation();
    if (key === "escape") this.close();
    else if (typing || e.altKey) return;
    else if (ctrl && key === "z") painting.step(e.shiftKey ? 1 : -1);
    else if (ctrl && key === "y") painting.step(1);
    else if (ctrl) return;
    else if (TOOL_KEYS[key]) this.setTool(TOOL_KEYS[key]);
    else if (key === "[" || key === "]") this.setSize(key === "]" ? painting.size * 1.25 : painting.size / 1.25);
    else return;
    e.preventDefault();
  }

  paste(e) {
    const file = imageFile(e.clipboardData);
    e.stopPropagation();
    if (!file) return;
    e.preventDefault();
    this.owner.uploadBackground(file);
  }

  drop(e) {
    e.preventDefault();
    e.stopPropagation();
    if (e.type === "drop") this.owner.uploadBackground(imageFile(e.dataTransfer));
  }
}

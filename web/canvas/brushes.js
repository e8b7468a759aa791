// The brush table: each brush is a colour carrying a prompt (multi-line), a negative prompt, mask strength, blur and
// prompt strength; a later brush paints over earlier ones. Rows are reordered by dragging their handle. The table
// owns the brush list and the active brush; its owner stores them (`brushesJson`) when told by `onChange`.
import { button, clamp, el } from "./util.js";

export const MAX_BRUSHES = 64;
const DEFAULTS = { negative: "", mask_strength: 1, blur: 8, prompt_strength: 0.95 };
const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#bcf60c",
  "#008080", "#9a6324", "#800000", "#808000", "#000075", "#ffe119", "#fabebe", "#aaffc3"];
const NUMBERS = [ // key, label, min, max, step, title
  ["mask_strength", "mask", 0, 1, 0.05, "Mask strength: how strongly the brush's prompt holds its area (0-1)"],
  ["blur", "blur", 0, 64, 1, "Mask blur in pixels: a soft border that grows as noise falls"],
  ["prompt_strength", "strength", 0, 1, 0.05, "Prompt strength: 1 is the brush's prompt alone; lower blends it "
    + "toward the background prompt"],
];

let tables = 0; // each table's radio buttons form their own group

export function parseBrushes(text) {
  try {
    const list = JSON.parse(text || "[]");
    return Array.isArray(list) ? list.map((b) => ({ ...DEFAULTS, ...b })) : [];
  } catch {
    return [];
  }
}

// The widget's compact JSON (the fields the node reads, in its order).
export const brushesJson = (brushes) => JSON.stringify(brushes.map(
  ({ colour, prompt, negative, mask_strength, blur, prompt_strength }) =>
    ({ colour, prompt, negative, mask_strength, blur, prompt_strength })));

export class BrushTable {
  // onChange(change): the list changed ({recolour: [from, to]} when a brush got a new colour); onSelect(i).
  constructor({ onChange, onSelect }) {
    Object.assign(this, { onChange, onSelect });
    this.brushes = [];
    this.active = 0;
    this.group = `sd-active-${++tables}`;
    this.rows = el("div", { className: "sd-brush-rows" });
    this.addButton = button("+ Brush", "Add a brush (later brushes paint over earlier ones)", () => this.add());
    this.warning = el("div", { className: "sd-warning", role: "status" });
    this.element = el("div", { className: "sd-brushes" }, this.rows, this.addButton, this.warning);
  }

  get current() { return this.brushes[this.active] ?? null; }

  set(brushes) {
    this.brushes = brushes;
    this.active = clamp(this.active, 0, Math.max(0, brushes.length - 1));
    this.render();
  }

  select(i) {
    this.active = i;
    this.render();
    this.onSelect?.(i);
  }

  selectColour(colour) {
    const i = this.brushes.findIndex((b) => b.colour.toLowerCase() === colour.toLowerCase());
    if (i >= 0) this.select(i);
  }

  changed(change = {}) {
    this.render();
    this.onChange(change);
  }

  edit(i, change) { Object.assign(this.brushes[i], change); this.changed(); }

  add(colour) {
    if (this.brushes.length >= MAX_BRUSHES) return;
    const used = new Set(this.brushes.map((b) => b.colour));
    colour ??= PALETTE.find((c) => !used.has(c))
      ?? `#${Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, "0")}`;
    this.brushes.push({ ...DEFAULTS, colour, prompt: "" });
    this.active = this.brushes.length - 1;
    this.changed();
  }

  remove(i) {
    this.brushes.splice(i, 1);
    this.active = clamp(this.active, 0, Math.max(0, this.brushes.length - 1));
    this.changed();
  }

  move(from, to) {
    if (to === from || to < 0 || to >= this.brushes.length) return;
    const activeBrush = this.current;
    this.brushes.splice(to, 0, ...this.brushes.splice(from, 1));
    this.active = this.brushes.indexOf(activeBrush);
    this.changed();
  }

  recolour(i, colour) {
    if (this.brushes.some((b, k) => k !== i && b.colour === colour)) { this.render(); return; } // colours are unique
    const from = this.brushes[i].colour;
    this.brushes[i].colour = colour;
    this.changed({ recolour: [from, colour] });
  }

  // Paint whose colour matches no brush renders as the background: say so, and offer a brush for it.
  warn(unused) {
    this.warning.replaceChildren(...unused.slice(0, 3).map(({ colour, pixels }) => el("div", {},
      el("span", { className: "sd-swatch", style: `background:${colour}` }),
      el("span", { textContent: `Unused colour ${colour} (${pixels} px) matches no brush: it renders as the `
        + "background. " }),
      button("Add brush", `Add a brush with colour ${colour}`, () => this.add(colour)))));
  }

  // Rows drawn anew; the focused control keeps the focus in its new row (keys keep reaching the editor).
  render() {
    const focused = document.activeElement, row = focused?.closest?.(".sd-brush");
    const keep = row?.parentNode === this.rows && [[...this.rows.children].indexOf(row), focused.className];
    this.rows.replaceChildren(...this.brushes.map((b, i) => this.row(b, i)));
    this.addButton.disabled = this.brushes.length >= MAX_BRUSHES;
    if (!keep) return;
    const target = this.rows.children[Math.min(keep[0], this.rows.children.length - 1)];
    (target?.getElementsByClassName(keep[1])[0] ?? this.element.closest("[tabindex]"))?.focus({ preventScroll: true });
  }

  row(b, i) {
    const number = ([key, label, min, max, step, title]) => el("label", { className: "sd-number", title },
      el("span", { textContent: label }),
      el("input", { type: "number", min, max, step, value: String(b[key]), className: `sd-${key}`,
        onchange: (e) => this.edit(i, { [key]: clamp(+e.target.value || 0, min, max) }) }));
    const text = (key, placeholder, rows) => el("textarea", { value: b[key], placeholder, rows, maxLength: 4096,
      className: `sd-${key}`, spellcheck: false, title: placeholder,
      onchange: (e) => this.edit(i, { [key]: e.target.value }) });
    const handle = el("span", { className: "sd-handle", textContent: "⠿", title: "Drag to reorder (a later brush "
      + "paints over earlier ones)" });
    handle.addEventListener("pointerdown", (e) => this.drag(e, i));
    return el("div", { className: `sd-brush${i === this.active ? " sd-active" : ""}` },
      handle,
      el("input", { type: "radio", name: this.group, checked: i === this.active, title: "Paint with this brush",
        className: "sd-select", onchange: () => this.select(i) }),
      el("input", { type: "color", value: b.colour, title: "Colour (each brush has its own)", className: "sd-colour",
        onchange: (e) => this.recolour(i, e.target.value) }),
      text("prompt", "prompt", 2),
      button("✕", "Remove the brush (its paint stays until painted over)", () => this.remove(i), "sd-remove"),
      text("negative", "negative prompt", 1),
      el("div", { className: "sd-numbers" }, ...NUMBERS.map(number)));
  }

  // Drag a row by its handle: the row follows the pointer's slot; dropped, the brush moves there.
  drag(e, from) {
    if (e.button !== 0) return;
    e.preventDefault();
    e.stopPropagation();
    const handle = e.currentTarget, rows = [...this.rows.children];
    handle.setPointerCapture(e.pointerId);
    const slot = (y) => rows.filter((r) => r.getBoundingClientRect().top + r.offsetHeight / 2 < y).length;
    let to = from;
    const moveTo = (ev) => {
      const s = slot(ev.clientY);
      to = s > from ? s - 1 : s;
      rows.forEach((r, k) => r.classList.toggle("sd-drop", k === to && to !== from));
    };
    const end = () => {
      handle.removeEventListener("pointermove", moveTo);
      handle.removeEventListener("pointerup", end);
      handle.removeEventListener("pointercancel", end);
      rows.forEach((r) => r.classList.remove("sd-drop", "sd-dragging"));
      this.move(from, to);
    };
    rows[from].classList.add("sd-dragging");
    handle.addEventListener("pointermove", moveTo);
    handle.addEventListener("pointerup", end);
    handle.addEventListener("pointercancel", end);
  }
}

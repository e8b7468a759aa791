// The painting: a canvas at the node's width x height painted with the brush colours, and its tools (brush with
// pen pressure, eraser, fill, clear, undo/redo, Alt+click eyedropper). Pointer handlers only draw: the owner hears
// `onInput` while a stroke goes on and `onChange` when one ends, and encodes the canvas (toBlob) off this path.
import { el, hexToRgb } from "./util.js";

const UNDO_STEPS = 100;
export const TOOLS = ["brush", "eraser", "fill"];
const MATCH_DISTANCE = 0.1 * 255 * Math.sqrt(3); // a painted colour this near a brush colour is that brush's
// (the server's rule is engine/palette.py match_palette, tolerance 0.1); the "unused colour" warning mirrors it

// Flood fill of the region connected to (x, y) that has exactly its RGBA, in place.
export function floodFill(image, x, y, rgba) {
  const { width: w, height: h, data } = image;
  const at = (i) => data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
  const target = at((y * w + x) * 4);
  const fill = rgba[0] | (rgba[1] << 8) | (rgba[2] << 16) | (rgba[3] << 24);
  if (target === fill) return false;
  const stack = [x, y];
  while (stack.length) {
    const cy = stack.pop();
    let cx = stack.pop();
    while (cx >= 0 && at((cy * w + cx) * 4) === target) cx--;
    cx++;
    let up = false, down = false;
    for (; cx < w && at((cy * w + cx) * 4) === target; cx++) {
      data.set(rgba, (cy * w + cx) * 4);
      const above = cy > 0 && at(((cy - 1) * w + cx) * 4) === target;
      const below = cy < h - 1 && at(((cy + 1) * w + cx) * 4) === target;
      if (above && !up) stack.push(cx, cy - 1);
      if (below && !down) stack.push(cx, cy + 1);
      up = above;
      down = below;
    }
  }
  return true;
}

// Colours painted (alpha >= 1/2, as the server's masks) that are near no brush colour, as "#rrggbb" with their pixel
// count, largest first; near colours are grouped, groups under `minFraction` of the canvas are left out.
export function unusedColours(image, brushColours, minFraction = 0.002) {
  const brushes = brushColours.map(hexToRgb), verdict = new Map(), counts = new Map(), d = image.data;
  const step = Math.max(1, Math.floor(Math.sqrt(image.width * image.height / 1e6))); // at most ~1M pixels read
  let sampled = 0;
  for (let y = 0; y < image.height; y += step) {
    for (let x = 0, p = y * image.width * 4; x < image.width; x += step, p += step * 4) {
      sampled++;
      if (d[p + 3] < 128) continue;
      const key = (d[p] << 16) | (d[p + 1] << 8) | d[p + 2];
      let unused = verdict.get(key);
      if (unused === undefined) {
        unused = !brushes.some(([r, g, b]) => Math.hypot(d[p] - r, d[p + 1] - g, d[p + 2] - b) <= MATCH_DISTANCE);
        verdict.set(key, unused);
      }
      if (unused) counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  const groups = []; // near colours (anti-aliasing, rounding) count as one: the most frequent one names them
  for (const [key, n] of [...counts].sort((a, b) => b[1] - a[1])) {
    const rgb = [key >> 16, (key >> 8) & 255, key & 255];
    const group = groups.find((g) => Math.hypot(...g.rgb.map((v, c) => v - rgb[c])) <= MATCH_DISTANCE);
    if (group) group.n += n; else groups.push({ rgb, n });
  }
  return groups.filter((g) => g.n >= minFraction * sampled).map((g) => ({
    colour: `#${g.rgb.map((v) => v.toString(16).padStart(2, "0")).join("")}`, pixels: g.n * step * step }));
}

export class Painting {
  // brush(): the active brush ({colour}) or null; onPick(colour) for Alt+click; onInput() during a stroke;
  // onChange() after every finished change.
  constructor({ brush, onPick, onInput, onChange }) {
    Object.assign(this, { brush, onPick, onInput, onChange });
    this.canvas = el("canvas", { className: "sd-paint" });
    this.ctx = this.canvas.getContext("2d", { willReadFrequently: true });
    this.tool = "brush";
    this.size = 24;
    this.undo = [];
    this.redo = [];
    this.canvas.addEventListener("pointerdown", (e) => this.down(e));
    this.canvas.addEventListener("pointermove", (e) => this.move(e));
    this.canvas.addEventListener("pointerup", (e) => this.up(e));
    this.canvas.addEventListener("pointercancel", (e) => this.up(e));
  }

  get width() { return this.canvas.width; }
  get height() { return this.canvas.height; }

  setSize(size) { this.size = Math.round(Math.min(256, Math.max(1, size))); }

  // A new size; `keep` keeps the pixels (top-left anchored), else the canvas is cleared. Undo history is dropped.
  resize(width, height, keep) {
    if (this.width === width && this.height === height) return false;
    const old = keep ? this.image() : null;
    this.canvas.width = width;
    this.canvas.height = height;
    if (old) this.ctx.putImageData(old, 0, 0);
    this.undo = [];
    this.redo = [];
    return true;
  }

  image(x = 0, y = 0, w = this.width, h = this.height) { return this.ctx.getImageData(x, y, w, h); }

  // Replace the pixels with an image (or clear); not undoable (a loaded painting starts a new history).
  load(img) {
    this.ctx.clearRect(0, 0, this.width, this.height);
    if (img) this.ctx.drawImage(img, 0, 0, this.width, this.height);
    this.undo = [];
    this.redo = [];
  }

  toBlob() { return new Promise((resolve) => this.canvas.toBlob(resolve, "image/png")); }

  point(e) {
    const r = this.canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * this.width / r.width, (e.clientY - r.top) * this.height / r.height];
  }

  down(e) {
    if (e.button !== 0) return;
    e.preventDefault();
    e.stopPropagation();
    if (e.altKey) { this.pick(e); return; }
    const brush = this.brush();
    if (!brush && this.tool !== "eraser") return;
    if (this.tool === "fill") {
      const [x, y] = this.point(e).map(Math.floor);
      this.record(() => {
        const image = this.image();
        if (floodFill(image, x, y, [...hexToRgb(brush.colour), 255])) this.ctx.putImageData(image, 0, 0);
      });
      this.onChange();
      return;
    }
    this.canvas.setPointerCapture(e.pointerId);
    this.before = this.image();
    this.last = this.point(e);
    this.box = [...this.last, ...this.last];
    this.stroke([e]);
    this.onInput();
  }

  move(e) {
    if (!this.before) return;
    e.preventDefault();
    this.stroke(e.getCoalescedEvents?.().length ? e.getCoalescedEvents() : [e]);
    this.onInput();
  }

  stroke(events) {
    const c = this.ctx, eraser = this.tool === "eraser";
    c.save();
    c.globalCompositeOperation = eraser ? "destination-out" : "source-over";
    c.strokeStyle = eraser ? "#000" : this.brush().colour;
    c.lineCap = c.lineJoin = "round";
    for (const ev of events) {
      const p = this.point(ev);
      c.lineWidth = this.size * (ev.pointerType === "pen" ? Math.max(ev.pressure, 0.05) : 1);
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

  up() {
    if (!this.before) return;
    const W = this.width, H = this.height;
    const x0 = Math.max(0, Math.floor(this.box[0])), y0 = Math.max(0, Math.floor(this.box[1]));
    const x1 = Math.min(W, Math.ceil(this.box[2])), y1 = Math.min(H, Math.ceil(this.box[3]));
    if (x1 > x0 && y1 > y0) { // keep only the changed rectangle, before and after
      const before = new ImageData(x1 - x0, y1 - y0);
      for (let y = y0; y < y1; y++) {
        before.data.set(this.before.data.subarray((y * W + x0) * 4, (y * W + x1) * 4), (y - y0) * (x1 - x0) * 4);
      }
      this.push({ x: x0, y: y0, before, after: this.image(x0, y0, x1 - x0, y1 - y0) });
    }
    this.before = null;
    this.onChange();
  }

  // Alt+click: the colour under the pointer (painted pixels only) goes to onPick (the eyedropper).
  pick(e) {
    const [x, y] = this.point(e).map(Math.floor);
    const [r, g, b, a] = this.image(x, y, 1, 1).data;
    if (a) this.onPick(`#${[r, g, b].map((v) => v.toString(16).padStart(2, "0")).join("")}`);
  }

  record(fn) { // an operation on the whole canvas, undoable
    const before = this.image();
    fn();
    this.push({ x: 0, y: 0, before, after: this.image() });
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
    this.onChange();
  }

  clear() {
    this.record(() => this.ctx.clearRect(0, 0, this.width, this.height));
    this.onChange();
  }

  // Repaint a brush's pixels in its new colour, undoable: every painted pixel whose nearest brush colour is `from`
  // (within the match distance, so anti-aliased edges too), keeping its alpha; `others` are the other brushes' colours.
  recolour(from, to, others) {
    const [a, b] = [hexToRgb(from), hexToRgb(to)], rest = others.map(hexToRgb), verdict = new Map();
    const dist = (d, p, [r, g, bl]) => Math.hypot(d[p] - r, d[p + 1] - g, d[p + 2] - bl);
    const ours = (d, p) => {
      const near = dist(d, p, a);
      return near <= MATCH_DISTANCE && rest.every((c) => dist(d, p, c) > near);
    };
    this.record(() => {
      const image = this.image(), d = image.data;
      for (let p = 0; p < d.length; p += 4) {
        if (!d[p + 3]) continue;
        const key = (d[p] << 16) | (d[p + 1] << 8) | d[p + 2];
        if (!verdict.has(key)) verdict.set(key, ours(d, p));
        if (verdict.get(key)) d.set(b, p);
      }
      this.ctx.putImageData(image, 0, 0);
    });
    this.onChange();
  }
}

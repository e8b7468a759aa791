// DOM helpers and the input-folder upload shared by the canvas modules (plain ES module, no side effects: ComfyUI
// imports every .js file under web/ as an extension).
import { api } from "../../../scripts/api.js";

const SUBFOLDER = "semanticdraw";

export const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  for (const c of children) if (c != null) e.append(c);
  return e;
};

export const button = (label, title, onClick, className = "") =>
  el("button", { type: "button", textContent: label, title, className: `sd-button ${className}`.trim(),
    onclick: (e) => { e.preventDefault(); onClick(e); } });

export const hexToRgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
export const clamp = (v, min, max) => Math.min(max, Math.max(min, v));
export const nextFrame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));

// /view URL of a file in the input folder, named "subfolder/file".
export function viewUrl(name) {
  const slash = name.lastIndexOf("/");
  const params = { filename: name.slice(slash + 1), subfolder: slash < 0 ? "" : name.slice(0, slash), type: "input" };
  return api.apiURL(`/view?${new URLSearchParams(params)}`);
}

export async function contentHash(bytes) {
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

// Upload to the input folder through core's /upload/image under a content-hash name (never overwrites another
// file); returns the name ("subfolder/file") the node's widgets store.
export async function uploadToInput(blob, prefix, extension) {
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

// The first image file of a drop or paste (DataTransfer), or null.
export const imageFile = (transfer) => Array.from(transfer?.files ?? []).find((f) => f.type.startsWith("image/"))
  ?? null;

export const isTextField = (e) => e instanceof HTMLTextAreaElement
  || e instanceof HTMLInputElement && !["radio", "range", "color", "checkbox", "button"].includes(e.type);

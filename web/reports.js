// SemanticDraw: shows the text reports of the Semantic Palette (unmatched colours) and the Regional Edit (changed
// regions) on the node itself. Both nodes return the report as ui text; the stock frontend does not draw it.
import { app } from "../../scripts/app.js";

const REPORT_NODES = new Set(["SemanticDrawPalette", "SemanticDrawRegionalEdit"]);
const STYLE = {
  margin: "0", padding: "4px 6px", overflow: "auto", whiteSpace: "pre-wrap", wordBreak: "break-word",
  font: "11px monospace", color: "var(--input-text, #ddd)", background: "var(--comfy-input-bg, #222)",
  borderRadius: "4px", boxSizing: "border-box",
};

function reportElement(node) {
  if (!node.semanticdrawReport) {
    const el = document.createElement("pre");
    el.className = "semanticdraw-report";
    Object.assign(el.style, STYLE);
    const widget = node.addDOMWidget("report", "semanticdraw_report", el, {
      serialize: false, hideOnZoom: false, getMinHeight: () => 64,
    });
    widget.serialize = false; // neither in the saved workflow's widgets_values nor in the prompt
    node.semanticdrawReport = el;
  }
  return node.semanticdrawReport;
}

function showReport(node, text) {
  const el = reportElement(node);
  el.textContent = text;
  el.style.color = text.includes("WARNING") ? "#f0a020" : STYLE.color;
  const needed = node.computeSize();
  node.setSize([Math.max(node.size[0], needed[0]), Math.max(node.size[1], needed[1])]);
  app.graph.setDirtyCanvas(true, true);
}

app.registerExtension({
  name: "SemanticDraw.Reports",
  beforeRegisterNodeDef(nodeType, nodeData) {
    if (!REPORT_NODES.has(nodeData.name)) return;
    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      onExecuted?.apply(this, arguments);
      showReport(this, (message?.text ?? []).join("\n"));
    };
  },
});

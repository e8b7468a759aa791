"""The README's node reference (markdown) from /object_info, so it always matches the nodes (tests/host/test_server.py
checks it against the running server's):

    python tools/node_reference.py --object-info object_info.json > /tmp/ref.md
    python tools/node_reference.py --object-info object_info.json --readme README.md   # rewrite the section in place
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def describe(spec: list) -> str:
    kind, opts = spec[0], (spec[1] if len(spec) > 1 else {})
    if kind == "COMBO" or isinstance(kind, list):
        options = opts.get("options", kind if isinstance(kind, list) else [])
        shown = ", ".join(map(str, options[:6])) + (", ..." if len(options) > 6 else "")
        kind = f"choice ({shown})"
    default = opts.get("default")
    if isinstance(default, str):
        default = repr(default.replace("\n", "\\n"))
    rng = f" [{opts['min']}, {opts['max']}]" if "min" in opts and "max" in opts and opts["max"] < 1e15 else ""
    return f"{kind}{rng}" + (f", default {default}" if default not in (None, "") else "")


def reference(object_info: dict, prefix: str = "SemanticDraw") -> str:
    out = []
    for node_id, info in object_info.items():
        if not node_id.startswith(prefix):
            continue
        out.append(f"### {info['display_name']} (`{node_id}`)\n\n{info['description']}\n")
        out.append("| input | type | what it does |\n|---|---|---|")
        for section in ("required", "optional"):
            for name, spec in info["input"].get(section, {}).items():
                tip = (spec[1] if len(spec) > 1 else {}).get("tooltip", "")
                opt = " (optional)" if section == "optional" else ""
                out.append(f"| `{name}`{opt} | {describe(spec)} | {tip} |")
        outs = ", ".join(f"`{n}` ({t})" for n, t in zip(info["output_name"], info["output"]))
        out.append(f"\nOutputs: {outs or 'none'}.\n")
    return "\n".join(out)


HEADING, NEXT = "## Node reference\n\n", "\n### Errors"  # the README's section lies between these


def section(readme: str) -> str:
    """The README's node reference: the text between its heading and "### Errors"."""
    return readme.split(HEADING, 1)[1].split(NEXT, 1)[0].strip()


def replace_section(readme: str, text: str) -> str:
    """`readme` with its node reference replaced by `text`."""
    head, rest = readme.split(HEADING, 1)
    return f"{head}{HEADING}{text.strip()}\n{NEXT}{rest.split(NEXT, 1)[1]}"


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--object-info", type=Path, required=True)
    ap.add_argument("--readme", type=Path, help="rewrite this README's node reference in place")
    args = ap.parse_args()
    text = reference(json.loads(args.object_info.read_text()))
    if args.readme:
        args.readme.write_text(replace_section(args.readme.read_text(), text))
    else:
        print(text)

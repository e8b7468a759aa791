#!/usr/bin/env bash
# Creates (once) the Python environment for the tests, the benchmarks and the headless main job.
# Prints the environment's python path on its last line. Re-installs when requirements change.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${SEMANTICDRAW_VENV:-$HOME/.cache/semanticdraw/venv}"
comfy="$("${PYTHON:-python3}" "$repo/tools/find_comfyui.py" || true)"
want="torch==2.14.1 torchvision==0.29.1 pytest requests diffusers==0.42.1"  # requests: imported by ComfyUI's server, missing from its requirements; diffusers: standalone adapter + benchmark
stamp_src="$want $(cat "$repo/requirements.txt") $( [ -n "$comfy" ] && cat "$comfy/requirements.txt" )"
stamp="$(printf '%s' "$stamp_src" | sha256sum | cut -c1-16)"
if [ ! -f "$venv/.semanticdraw-$stamp" ]; then
  echo "setting up $venv" >&2
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
  "$venv/bin/python" -m pip install -q $want -r "$repo/requirements.txt" >&2
  if [ -n "$comfy" ]; then
    grep -v -E '^\s*(torch|torchvision|torchaudio)\s*$' "$comfy/requirements.txt" > "$venv/comfy-requirements.txt"
    "$venv/bin/python" -m pip install -q -r "$venv/comfy-requirements.txt" >&2
  else
    echo "no ComfyUI found (set COMFYUI_PATH or put it at ~/ComfyUI): host tests will be skipped" >&2
  fi
  rm -f "$venv"/.semanticdraw-*
  touch "$venv/.semanticdraw-$stamp"
fi
echo "$venv/bin/python"

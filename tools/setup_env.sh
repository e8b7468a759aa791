#!/usr/bin/env bash
# Creates (once) the Python environment for the tests, the benchmarks and the headless main job, and installs
# the pinned ComfyUI host into the cache when none is found. Prints the environment's python on its last line.
# COMFYUI_PATH: use this ComfyUI. COMFYUI_ARCHIVE: install the host from this ComfyUI source archive (.tar.gz)
# instead of cloning it. Re-installs when requirements change.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
py="${PYTHON:-python3}"
venv="${SEMANTICDRAW_VENV:-$HOME/.cache/semanticdraw/venv}"
tag=v0.3.64
fail() { echo "semanticdraw set-up failed: $*" >&2; exit 1; }

command -v "$py" >/dev/null || fail "no '$py' on PATH. Install Python 3.10+ or set PYTHON=/path/to/python3."
"$py" -c 'import sys; assert sys.version_info >= (3, 10)' 2>/dev/null \
  || fail "$py is older than Python 3.10. Set PYTHON to a Python 3.10+ interpreter."

install_host() {  # $1: target folder
  local target="$1" tmp
  mkdir -p "$(dirname "$target")"
  tmp="$(mktemp -d "$(dirname "$target")/.comfyui-XXXXXX")"
  if [ -n "${COMFYUI_ARCHIVE:-}" ]; then
    [ -f "$COMFYUI_ARCHIVE" ] \
      || fail "COMFYUI_ARCHIVE=$COMFYUI_ARCHIVE is not a file. Point it at a ComfyUI source .tar.gz."
    echo "no ComfyUI found: installing ComfyUI $tag from $COMFYUI_ARCHIVE into $target" \
      "(set COMFYUI_PATH to use your own)" >&2
    tar xzf "$COMFYUI_ARCHIVE" -C "$tmp" || fail "could not unpack $COMFYUI_ARCHIVE (is it a .tar.gz of ComfyUI?)"
    local top; top="$(find "$tmp" -mindepth 2 -maxdepth 2 -name main.py -printf '%h\n' | head -n 1)"
    [ -n "$top" ] || fail "$COMFYUI_ARCHIVE holds no ComfyUI (no */main.py inside)."
    mv "$top" "$target"
  else
    command -v git >/dev/null || fail "no ComfyUI found and no git to clone it. Install git, or set COMFYUI_PATH."
    echo "no ComfyUI found: cloning ComfyUI $tag into $target (set COMFYUI_PATH to use your own)" >&2
    git clone -q --depth 1 --branch "$tag" https://github.com/comfyanonymous/ComfyUI "$tmp/ComfyUI" >&2 \
      || fail "git clone of ComfyUI $tag failed (no network?). Set COMFYUI_ARCHIVE to a ComfyUI source .tar.gz, \
or COMFYUI_PATH to an existing ComfyUI."
    mv "$tmp/ComfyUI" "$target"
  fi
  rm -rf "$tmp"
}

comfy="$("$py" "$repo/tools/find_comfyui.py" || true)"
if [ -z "$comfy" ]; then
  [ -z "${COMFYUI_PATH:-}" ] || fail "COMFYUI_PATH=$COMFYUI_PATH has no main.py. Point it at a ComfyUI folder."
  install_host "$("$py" "$repo/tools/find_comfyui.py" --cache)"
  comfy="$("$py" "$repo/tools/find_comfyui.py")" || fail "the installed ComfyUI was not found afterwards."
fi

# requests: imported by ComfyUI's server, missing from its requirements; diffusers: standalone adapter + benchmark;
# playwright: browser tests (driven with Debian's chromium, never a downloaded browser); comfy-cli + ruff (which its
# `comfy node validate` runs): the registry package test.
want="torch==2.14.1 torchvision==0.29.1 pytest requests diffusers==0.42.1 playwright==1.65.2"
want="$want comfy-cli==1.23.0 ruff==0.17.5"
stamp="$(printf '%s' "$want $(cat "$repo/requirements.txt" "$comfy/requirements.txt")" | sha256sum | cut -c1-16)"
if [ ! -f "$venv/.semanticdraw-$stamp" ]; then
  echo "setting up $venv (ComfyUI at $comfy)" >&2
  if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv" >&2 || fail "'$py -m venv' failed. On Debian/Ubuntu: apt-get install python3-venv."
  fi
  pipi() { "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@" >&2; }
  pipi --upgrade pip || fail "pip could not upgrade itself in $venv (no package index reachable?)."
  pipi $want -r "$repo/requirements.txt" || fail "pip install of '$want' failed (see above)."
  grep -v -E '^\s*(torch|torchvision|torchaudio)\s*$' "$comfy/requirements.txt" > "$venv/comfy-requirements.txt"
  pipi -r "$venv/comfy-requirements.txt" || fail "pip install of ComfyUI's requirements ($comfy) failed (see above)."
  rm -f "$venv"/.semanticdraw-*
  touch "$venv/.semanticdraw-$stamp"
fi
# The newest frontend for the browser tests, installed beside the venv (the venv keeps the host's pinned one) and
# served with --front-end-root (tools/browser.py NEWEST_FRONTEND; keep the two versions equal).
frontend_version=1.58.1
frontend="${SEMANTICDRAW_CACHE:-$HOME/.cache/semanticdraw}/frontend-$frontend_version"
if [ ! -f "$frontend/comfyui_frontend_package/static/index.html" ]; then
  echo "installing comfyui-frontend-package $frontend_version into $frontend (browser tests on the newest frontend)" >&2
  rm -rf "$frontend.tmp"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --target "$frontend.tmp" \
    "comfyui-frontend-package==$frontend_version" >&2 \
    || fail "pip install of comfyui-frontend-package==$frontend_version failed (no package index reachable?)."
  rm -rf "$frontend" && mv "$frontend.tmp" "$frontend"
fi
# Browser tests drive Debian's chromium (never a downloaded browser); installed here when missing and we are root.
if ! command -v chromium >/dev/null && [ -z "${SEMANTICDRAW_NO_BROWSER:-}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium for the browser tests (SEMANTICDRAW_NO_BROWSER=1 skips this)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >&2 \
      || fail "apt-get install chromium failed (see above). Browser tests need /usr/bin/chromium."
  else
    echo "no chromium on PATH: browser tests will be skipped (run 'apt-get install chromium' as root)" >&2
  fi
fi
echo "$venv/bin/python"

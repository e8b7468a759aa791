#!/usr/bin/env bash
# The main job: runs a workflow from workflows/ through a headless ComfyUI and writes its images.
# Usage: tools/run_main.sh [WORKFLOW.json] [--smoke] [--out DIR] [...]  (see tools/run_workflow.py --help)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
py="$(bash "$repo/tools/setup_env.sh" | tail -n 1)"
cd "$repo"
if [ $# -eq 0 ] || [[ "$1" == --* ]]; then
  set -- workflows/sd15_lcm_three_regions.json "$@"
fi
exec "$py" tools/run_workflow.py "$@"

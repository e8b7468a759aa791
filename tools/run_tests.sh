#!/usr/bin/env bash
# The test command: sets up the environment if needed, then runs the whole suite.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
py="$(bash "$repo/tools/setup_env.sh" | tail -n 1)"
cd "$repo"
exec "$py" -m pytest tests -rs "$@"

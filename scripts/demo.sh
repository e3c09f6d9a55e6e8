#!/usr/bin/env bash
# The main job: the lab demo. Builds sites behind hostile NATs in network namespaces and shows what
# each NAT does and what conegate changes. Installs what it needs first; cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The demo runs the real `conegate nat apply`: the bundle, as shipped.
node scripts/build.mjs
exec node bin/conegate-lab.js demo "$@"

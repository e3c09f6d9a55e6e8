#!/usr/bin/env bash
# The whole test suite: unit, lab (network namespaces, needs root) and interop with real peers.
# Installs what it needs first. Extra arguments are passed to the runner (e.g. --unit, a file filter).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx tsc --noEmit -p tsconfig.json
exec node scripts/run-tests.mjs "$@"

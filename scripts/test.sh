#!/usr/bin/env bash
# The whole test suite: unit, lab (network namespaces, needs root) and interop with real peers, on this
# machine's Node; then the unit tests again on Node 22 and 24 (official binaries from the registry,
# installed by setup.sh into .cache/node/). Installs what it needs first. Extra arguments are passed to
# the runner (e.g. --unit, a file filter).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx tsc --noEmit -p tsconfig.json
# The page's browser code has its own project (DOM types): agent/web-ui/README.md.
npx tsc --noEmit -p agent/web-ui/tsconfig.json
# The bundle, as shipped: every test that starts `conegate` runs it (test/conegate.ts).
node scripts/build.mjs
status=0
node scripts/run-tests.mjs --no-build "$@" || status=1
for node in .cache/node/22/node_modules/node-linux-*/bin/node .cache/node/24/node_modules/node-linux-*/bin/node; do
  [ -x "$node" ] || { echo "test: $node is missing (scripts/setup.sh installs it)" >&2; status=1; continue; }
  echo "== unit tests on Node $("$node" --version)"
  # The coordinator fuzz test's 100,000 mutants run once, above; on the other runtimes 20,000 cover the
  # same code paths (about 3 minutes less per runtime on 2 cores).
  CG_FUZZ_COUNT=20000 "$node" scripts/run-tests.mjs --unit --no-build "$@" || status=1
done
exit "$status"

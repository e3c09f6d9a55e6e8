#!/usr/bin/env bash
# Long runs that do not belong in the test suite: throughput, fuzzing at 10^6 inputs, the NAT matrix.
# `startup`: --help time and RSS of the bundle beside `node -e 0`.
# Each benchmark writes JSON to bench/results/<name>.json and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Benchmarks that start conegate run the bundle, as shipped.
node scripts/build.mjs
mkdir -p bench/results
exec node --import tsx bench/run.ts "$@"

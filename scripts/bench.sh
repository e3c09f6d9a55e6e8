#!/usr/bin/env bash
# Long runs that do not belong in the test suite: throughput, fuzzing at 10^6 inputs, the NAT matrix.
# Each benchmark writes JSON to bench/results/<name>.json and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p bench/results
exec node --import tsx bench/run.ts "$@"

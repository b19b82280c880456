#!/usr/bin/env bash
# The main job on a built-in default: starts a local snmpd on loopback, walks it with many
# requests in parallel, and prints a table and a summary. Extra arguments go to the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo run --release --locked --quiet --example demo -- "$@"

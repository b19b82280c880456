#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test against real agents.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
cargo test --doc --locked

#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting and lints (Rust and Python), then every test
# against real agents: cargo's unit and integration tests, then pytest on the Python package.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --all-targets --locked
cargo test --doc --locked

# The Python package, built in place into .venv (debug build, shares cargo's target dir).
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r python/requirements-dev.txt
# A module built before the abi3 wheel (_snmp_stream.cpython-*.so) would shadow the new one.
rm -f python/snmp_stream/_snmp_stream.cpython-*.so
VIRTUAL_ENV="$PWD/.venv" .venv/bin/maturin develop -q
.venv/bin/ruff check python tests/python tests/docker
.venv/bin/ruff format --check python tests/python tests/docker
.venv/bin/mypy
.venv/bin/python -m mypy.stubtest snmp_stream._snmp_stream
.venv/bin/python -m pytest -q

#!/usr/bin/env bash
# The main job on a built-in default: `snmp-stream collect` starts three local snmpd agents on
# loopback (and adds a dead target), collects their system and interface tables in parallel,
# and prints the tables and a summary. Extra arguments go to `snmp-stream collect`, e.g. a
# targets file: scripts/demo.sh targets.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check "maturin>=1.5,<2" "numpy>=1.24" "pandas>=1.5" "rich>=13" "pyyaml>=6"
# Build output (pip's included) goes to stderr: stdout carries only the collected tables.
# A module built before the abi3 wheel (_snmp_stream.cpython-*.so) would shadow the new one.
rm -f python/snmp_stream/_snmp_stream.cpython-*.so
VIRTUAL_ENV="$PWD/.venv" .venv/bin/maturin develop -q --release >&2
exec .venv/bin/snmp-stream collect "$@"

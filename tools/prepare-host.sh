#!/bin/bash
# Prepare this machine to deploy the local fleet and run the tests.
# Idempotent: each step checks before it acts, so a second run takes seconds.
#   1. Debian packages: Docker engine, debootstrap, venv support, ssh client,
#      bubblewrap, ZooKeeper and openssl for the tests that run real Zuul.
#   2. Start dockerd when it does not answer (machines here have no systemd
#      as PID 1), and wait until it does.
#   3. Systemd base images for Debian 12 and 13, rebuilt only when their
#      recipe changes (tools/images/build-base-image.sh).
#   4. The Python venv at .venv from requirements.txt (rebuilt when that
#      file changes).
# Exit codes: 0 ready; 1 a step failed (its message says which).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '[prepare-host] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts dockerd)"

need_pkgs=()
command -v dockerd >/dev/null || need_pkgs+=(docker.io)
command -v debootstrap >/dev/null || need_pkgs+=(debootstrap)
command -v ssh >/dev/null || need_pkgs+=(openssh-client)
command -v git >/dev/null || need_pkgs+=(git)
python3 -c 'import ensurepip, venv' 2>/dev/null || need_pkgs+=(python3-venv)
# Real Zuul in tests/zuul: bubblewrap (Zuul wants bwrap on PATH), ZooKeeper
# (Zuul refuses to run without one), openssl for its throwaway TLS CA.
command -v bwrap >/dev/null || need_pkgs+=(bubblewrap)
[ -x /usr/share/zookeeper/bin/zkServer.sh ] || need_pkgs+=(zookeeperd)
command -v openssl >/dev/null || need_pkgs+=(openssl)
# A real registry for tools/sctools/registry.py's tests (and the buildset
# registry the Zuul images are pushed to).
command -v docker-registry >/dev/null || need_pkgs+=(docker-registry)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    log "installing ${need_pkgs[*]}"
    apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null \
        || die "apt-get install ${need_pkgs[*]} failed"
fi

if ! docker info >/dev/null 2>&1; then
    log "starting dockerd (log: /var/log/dockerd.log)"
    if [ -d /run/systemd/system ]; then
        systemctl start docker
    else
        # A session of its own: stopping the run that started it (Ctrl-C,
        # a killed CI job) must not take the engine and every container down.
        setsid nohup dockerd >>/var/log/dockerd.log 2>&1 < /dev/null &
    fi
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    docker info >/dev/null 2>&1 || die "dockerd did not answer within 60 s; see /var/log/dockerd.log"
fi
log "docker engine $(docker version --format '{{.Server.Version}}') answers"

for release in bookworm trixie; do
    image=$("$top/tools/images/build-base-image.sh" "$release") \
        || die "building the $release base image failed"
    log "base image $image ready"
done

venv="$top/.venv"
stamp="$venv/.requirements.sha256"
want=$(cat "$top/requirements.txt" "$top/pyproject.toml" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "building $venv from requirements.txt"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q -r "$top/requirements.txt" -e "$top" \
        || die "pip install into $venv failed"
    echo "$want" > "$stamp"
fi
log "venv $venv ready"

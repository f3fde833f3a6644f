#!/usr/bin/env bash
# Starts or stops a Docker engine of the project's own (Debian's docker.io, as root), in a folder of its own, so
# that tests and CI never depend on a system daemon. Prints the DOCKER_HOST to use on start.
#   tools/docker/dockerd.sh start [DIR]   # DIR: default $E2E_DOCKER_DIR, else /var/lib/e2e-docker
#   tools/docker/dockerd.sh stop  [DIR]
# The data root is kept between runs (images built by tools/images/Build-TestImages.ps1 are cached by content
# there); the socket, exec root and pid file are per start.
set -euo pipefail
action="${1:?usage: dockerd.sh start|stop [DIR]}"
dir="${2:-${E2E_DOCKER_DIR:-/var/lib/e2e-docker}}"
socket="$dir/docker.sock"
pidfile="$dir/dockerd.pid"

running() { [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "$action" in
start)
    command -v dockerd >/dev/null || { echo "dockerd.sh: dockerd is not installed (apt-get install docker.io)" >&2; exit 2; }
    mkdir -p "$dir/data" "$dir/exec"
    if ! running; then
        rm -f "$socket" "$pidfile"
        # setsid: the engine is not in the caller's process group, so a Ctrl-C or group kill of a test run leaves it to 'stop'.
        setsid dockerd --storage-driver=vfs --host "unix://$socket" --data-root "$dir/data" --exec-root "$dir/exec" \
            --pidfile "$pidfile" >>"$dir/dockerd.log" 2>&1 </dev/null &
        # Wait on the thing: the engine answers on its socket (bounded: 60 s).
        for _ in $(seq 1 600); do
            if [[ -S "$socket" ]] && DOCKER_HOST="unix://$socket" docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
                break
            fi
            sleep 0.1
        done
        DOCKER_HOST="unix://$socket" docker version --format '{{.Server.Version}}' >/dev/null 2>&1 \
            || { echo "dockerd.sh: the engine did not answer within 60 s; the end of $dir/dockerd.log:" >&2; tail -20 "$dir/dockerd.log" >&2; exit 1; }
    fi
    echo "unix://$socket"
    ;;
stop)
    if running; then
        pid="$(cat "$pidfile")"
        kill -TERM "$pid"
        # dockerd stops its containers (10 s each at most) before it exits.
        for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" || true
    fi
    rm -f "$socket"
    ;;
*)
    echo "usage: dockerd.sh start|stop [DIR]" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# `make faas-test`: the OpenFaaS images built and run as containers (tests/faas says what runs), then
# bench/faas_latency.py (not under CI=true: benchmarks are run by hand). Not part of `make test` or CI's
# run yet: it needs Docker and builds images.
#
# Needs Docker's engine (dockerd is started here when none runs, and only that one is stopped at the end),
# debootstrap and a CPython 3.12 (infra/openfaas/build.sh); as root on Debian, missing packages are installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$PWD/.eneo-faas
mkdir -p "$work"
total=$SECONDS
FUNCTIONS=(auth spaces models assistants sessions knowledge admin privacy complete ingest embed sweep crawl
           crawl_scheduler retention)

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ((${#missing[@]})); then
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || {
        echo "faas: needs ${missing[*]} (Debian packages); run as root on Debian, or install them" >&2; exit 2; }
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

dockerd_pid=
stop_dockerd() {
    if [ -n "$dockerd_pid" ]; then
        kill "$dockerd_pid" 2>/dev/null && while kill -0 "$dockerd_pid" 2>/dev/null; do sleep 0.2; done
        rm -f "$work/dockerd.pid"
        echo "faas: stopped the dockerd it started"
    fi
}
trap stop_dockerd EXIT
if ! docker info >/dev/null 2>&1; then
    dockerd >"$work/dockerd.log" 2>&1 &
    dockerd_pid=$!
    echo "$dockerd_pid" >"$work/dockerd.pid"
    for _ in $(seq 1 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
    docker info >/dev/null 2>&1 || { tail -n 20 "$work/dockerd.log" >&2; exit 1; }
fi

started=$SECONDS
bash infra/openfaas/build.sh eneo-faas "${FUNCTIONS[@]}" | tee "$work/build.out"
echo "faas: images built in $((SECONDS - started)) s"
docker image ls --format '{{.Repository}} {{.Size}}' | grep '^eneo-faas-' | sort
python3 - "$work/build.out" "$work/config.json" <<'PY'
import json, sys
images = dict(line.split() for line in open(sys.argv[1]) if line.count(" ") == 1 and line.split()[1].startswith("eneo-faas-"))
json.dump({"images": images}, open(sys.argv[2], "w"))
PY

started=$SECONDS
ENEO_FAAS="$work/config.json" .venv/bin/pytest tests/faas -p no:cacheprovider -s "$@"
echo "faas: tests in $((SECONDS - started)) s"
if [ "${CI:-}" != true ]; then
    ENEO_FAAS="$work/config.json" .venv/bin/python bench/faas_latency.py
fi
echo "faas: $((SECONDS - total)) s in all"

#!/usr/bin/env bash
# `make conformance`: the functions in AWS's Lambda runtime, on this machine (tests/conformance says what runs).
#
# From nothing on Debian as root: Docker (Debian's docker.io; dockerd is started here when none runs, and only
# that one is stopped at the end), debootstrap, a Lambda-compatible python3.12 image built without a registry
# (base-image.sh, runtime-image.sh), SAM CLI in a venv of its own (its pins never meet the project's), the
# layers and functions built by `sam build` exactly as for a deploy, then pytest over tests/conformance.
# Docker keeps the images and ENEO_CONFORMANCE_CACHE the SAM CLI venv, so a second run on one machine
# skips those steps. Each step prints its time.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=infra/conformance
SAM_CLI_VERSION=1.170.0
cache=${ENEO_CONFORMANCE_CACHE:-$HOME/.cache/eneo/conformance}
work=$PWD/.eneo-conformance
mkdir -p "$cache" "$work"
total=$SECONDS
step() { echo "conformance: $1 ($((SECONDS - started)) s)"; }

started=$SECONDS
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v ip >/dev/null || missing+=(iproute2)
if ((${#missing[@]})); then
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || {
        echo "conformance: needs ${missing[*]} (Debian packages); run as root on Debian, or install them" >&2; exit 2; }
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
step "packages"

started=$SECONDS
dockerd_pid=
stop_dockerd() {
    if [ -n "$dockerd_pid" ]; then
        kill "$dockerd_pid" 2>/dev/null && while kill -0 "$dockerd_pid" 2>/dev/null; do sleep 0.2; done
        echo "conformance: stopped the dockerd it started"
    fi
}
trap stop_dockerd EXIT
if ! docker info >/dev/null 2>&1; then
    dockerd >"$work/dockerd.log" 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 1 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
    docker info >/dev/null 2>&1 || { tail -n 20 "$work/dockerd.log" >&2; exit 1; }
fi
step "docker engine"

source infra/python312.sh

started=$SECONDS
recipe() { cat "$@" | sha256sum | cut -c1-12; }
base=eneo-lambda-base:bookworm-$(recipe "$here/base-image.sh")
"$here/base-image.sh" "$base"
image=eneo-lambda-python3.12:$(printf '%s %s' "$base" "$("$python312" -V)" | cat - "$here/runtime-image.sh" \
    "$here/Dockerfile" "$here/bootstrap" | sha256sum | cut -c1-12)
"$here/runtime-image.sh" "$image" "$base" "$python312"
step "images"

started=$SECONDS
venv=$cache/sam-venv
if [ ! -f "$venv/.installed-$SAM_CLI_VERSION" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "aws-sam-cli==$SAM_CLI_VERSION" 2>&1 | grep -v '^WARNING: Location' || true
    "$venv/bin/sam" --version >/dev/null
    touch "$venv/.installed-$SAM_CLI_VERSION"
fi
step "SAM CLI $SAM_CLI_VERSION"

# The layers by their Makefile (layers/README.md) and the functions' code, as `sam build` does for a deploy;
# python3.12 on PATH: SAM checks the runtime's interpreter, and the layers get .pyc compiled by it.
started=$SECONDS
PATH="$(dirname "$python312"):$PATH" SAM_CLI_TELEMETRY=0 "$venv/bin/sam" build --template template.yaml \
    --build-dir "$work/build" --cache-dir "$work/cache" --cached >"$work/build.log" 2>&1 || {
    tail -n 40 "$work/build.log" >&2; exit 1; }
# `sam build --cached` keys EneoLayer on its recipe's folder (layers/eneo/), not on shared/eneo, which the
# recipe copies in: a changed eneo package alone kept the previous build's. So the package is put into the
# built layer every run, from a copy built once per content of shared/eneo (SKIP_DEPS=1: the package only).
# Built once, not every run: compiled .pyc differ from one compile to the next (marshal), and unchanged
# bytes keep the function images' ids, so SAM CLI's wrappers of them are reused (tests/conformance/images.py).
package=$( (cd shared/eneo && find . -type f ! -path '*/__pycache__/*' ! -path '*/tests/*' ! -path '*/.pytest_cache/*' \
    ! -name '*.py[co]' -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16)
if [ ! -d "$work/eneo/$package/python/eneo" ]; then
    rm -rf "$work/eneo"
    make --no-print-directory -f layers/eneo/Makefile build-EneoLayer ARTIFACTS_DIR="$work/eneo/$package" \
        PYC_PYTHON="$python312" SKIP_DEPS=1 >>"$work/build.log" 2>&1 || { tail -n 30 "$work/build.log" >&2; exit 1; }
fi
rm -rf "$work/build/EneoLayer/python/eneo"
cp -a "$work/eneo/$package/python/eneo" "$work/build/EneoLayer/python/eneo"
step "sam build"

started=$SECONDS
printf '{"sam": "%s", "image": "%s", "template": "%s"}\n' "$venv/bin/sam" "$image" "$work/build/template.yaml" \
    >"$work/config.json"
.venv/bin/python -m tests.conformance.images "$work/config.json"
step "function images"

started=$SECONDS
ENEO_CONFORMANCE="$work/config.json" .venv/bin/pytest tests/conformance -p no:cacheprovider "$@"
step "tests"
echo "conformance: $((SECONDS - total)) s in all"

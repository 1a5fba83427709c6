#!/usr/bin/env bash
# The OpenFaaS images, one per function, from one Dockerfile (beside this file), built with Docker and no
# image registry: infra/conformance's debootstrap base and python3.12 runtime image, the layers by
# layers/eneo/Makefile (as for AWS), then `docker build --build-arg FUNCTION=...` for each function.
#
# Usage: build.sh TAG_PREFIX FUNCTION...   (e.g. build.sh eneo-faas auth ingest); prints "function image" lines
# last. Needs a running dockerd, debootstrap, and a CPython 3.12 (PYTHON312, or found as conformance finds it).
set -euo pipefail
cd "$(dirname "$0")/../.."
prefix=$1; shift
conformance=infra/conformance
work=$PWD/.eneo-faas
mkdir -p "$work"
source infra/python312.sh

started=$SECONDS
recipe() { cat "$@" | sha256sum | cut -c1-12; }
base=eneo-lambda-base:bookworm-$(recipe "$conformance/base-image.sh")
"$conformance/base-image.sh" "$base"
runtime=eneo-lambda-python3.12:$(printf '%s %s' "$base" "$("$python312" -V)" | cat - "$conformance/runtime-image.sh" \
    "$conformance/Dockerfile" "$conformance/bootstrap" | sha256sum | cut -c1-12)
"$conformance/runtime-image.sh" "$runtime" "$base" "$python312"
echo "faas: base images ($((SECONDS - started)) s)"

# The layers, rebuilt when pyproject.toml or the recipe changed (EneoLayer's eneo package every time). A
# container has no 250 MB limit: the per-layer budgets that keep a Lambda function under it are lifted.
started=$SECONDS
layers=$work/layers
stamp=$(cat pyproject.toml layers/eneo/Makefile layers/eneo/layer_tool.py | sha256sum | cut -c1-16)
for layer in EneoLayer DocumentsLayer ModelLayer WebPagesLayer RelayLayer; do
    if [ "$layer" = EneoLayer ] || [ ! -f "$layers/$layer/.built-$stamp" ]; then
        skip=$([ -f "$layers/$layer/.built-$stamp" ] && echo SKIP_DEPS=1 || true)
        [ -n "$skip" ] || rm -rf "${layers:?}/$layer"
        make --no-print-directory -f layers/eneo/Makefile "build-$layer" ARTIFACTS_DIR="$layers/$layer" \
            PYC_PYTHON="$python312" ENEO_MAX_MB=1000 DOCUMENTS_MAX_MB=1000 MODEL_MAX_MB=1000 WEB_PAGES_MAX_MB=1000 \
            RELAY_MAX_MB=1000 $skip >"$work/layer-$layer.log" 2>&1 || { tail -n 30 "$work/layer-$layer.log" >&2; exit 1; }
        touch "$layers/$layer/.built-$stamp"
    fi
done
echo "faas: layers ($((SECONDS - started)) s)"

started=$SECONDS
context=$work/context
rm -rf "$context" && mkdir -p "$context/adapter/eneo_local"
ln -s "$layers" "$context/layers"
# The adapter and what it imports of the local stack (standard library only): no template reader, no moto.
for module in __init__ faas http_events routes runtime; do
    cp "local/eneo_local/$module.py" "$context/adapter/eneo_local/"
done
cp infra/openfaas/layers.Dockerfile "$context/Dockerfile"
shared=$prefix-layers:$(printf '%s' "$runtime" | cat - "$layers"/*/.built-* "$context/adapter/eneo_local/"*.py \
    infra/openfaas/layers.Dockerfile <(tar -C shared/eneo --exclude=__pycache__ -cf - . ) | sha256sum | cut -c1-12)
if ! docker image inspect "$shared" >/dev/null 2>&1; then
    # Docker does not follow symbolic links out of the context: hand it a tar with the layers dereferenced.
    tar -C "$context" -chf - . | DOCKER_BUILDKIT=0 docker build --quiet --build-arg RUNTIME="$runtime" \
        -t "$shared" - >/dev/null
fi
echo "faas: layers image $shared ($((SECONDS - started)) s)"

started=$SECONDS
for function in "$@"; do
    DOCKER_BUILDKIT=0 docker build --quiet --build-arg LAYERS="$shared" --build-arg FUNCTION="$function" \
        -f infra/openfaas/Dockerfile -t "$prefix-$function" functions >/dev/null
done
echo "faas: ${#@} function images ($((SECONDS - started)) s)"
for function in "$@"; do echo "$function $prefix-$function"; done

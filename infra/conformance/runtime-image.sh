#!/usr/bin/env bash
# The Lambda-compatible python3.12 image (Dockerfile beside this file) on the debootstrap base (base-image.sh).
#
# Usage: runtime-image.sh TAG BASE_TAG PYTHON312
#   PYTHON312: a CPython 3.12 interpreter built for this Debian release; its installation prefix is copied
#   into /var/lang (Debian bookworm packages 3.11 only). awslambdaric and boto3 come from the package
#   index as CPython 3.12 manylinux wheels, as the layers' dependencies do.
set -euo pipefail
tag=$1 base=$2 python=$3
if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "runtime image $tag: cached"
    exit 0
fi
here=$(cd "$(dirname "$0")" && pwd)
prefix=$("$python" -c 'import sys; assert sys.version_info[:2] == (3, 12), sys.version; print(sys.base_prefix)')
context=$(mktemp -d /tmp/eneo-lambda-context.XXXXXX)
trap 'rm -rf "$context"' EXIT
started=$SECONDS
mkdir -p "$context/lang/bin" "$context/lang/lib"
cp -a "$prefix/bin/python3.12" "$context/lang/bin/"
ln -s python3.12 "$context/lang/bin/python3"
ln -s python3.12 "$context/lang/bin/python"
cp -a "$prefix"/lib/libpython3.12.so* "$context/lang/lib/"
# The standard library without what a function never imports (its tests, Tk, IDLE, pip's bundled wheels)
# and without the build host's site-packages.
tar -C "$prefix/lib" --exclude=python3.12/test --exclude=python3.12/idlelib --exclude=python3.12/tkinter \
    --exclude=python3.12/turtledemo --exclude=python3.12/ensurepip --exclude='python3.12/site-packages/*' \
    --exclude='_tkinter*' -cf - python3.12 | tar -C "$context/lang/lib" -xf -
python3 -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --no-compile \
    --target "$context/runtime" --implementation cp --python-version 3.12 --only-binary=:all: \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    awslambdaric boto3 2>&1 | grep -v '^WARNING: Location' >&2 || true
test -d "$context/runtime/awslambdaric" -a -d "$context/runtime/boto3" || { echo "awslambdaric/boto3 not installed" >&2; exit 1; }
rm -rf "$context/runtime/bin"
"$python" -m compileall -q -j 0 --invalidation-mode unchecked-hash "$context/runtime" >/dev/null
cp "$here/bootstrap" "$here/Dockerfile" "$context/"
DOCKER_BUILDKIT=0 docker build --quiet --build-arg BASE="$base" -t "$tag" "$context" >/dev/null
echo "runtime image $tag: built in $((SECONDS - started)) s"

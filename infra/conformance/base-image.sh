#!/usr/bin/env bash
# The root file system of the Lambda-compatible image, built without an image registry (none is reachable
# here): Debian bookworm from Debian's own packages with debootstrap, then `docker import`. It holds the C
# libraries the CPython 3.12 build needs (the interpreter itself is copied in by the Dockerfile beside this
# file). Docker keeps the image between runs; the tag carries a hash of this recipe, so a change rebuilds it.
#
# Usage: base-image.sh TAG   (builds TAG unless Docker already has it)
set -euo pipefail
tag=$1
if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "base image $tag: cached"
    exit 0
fi
# The libraries CPython's extension modules link against (ssl, ctypes, sqlite3, bz2, lzma, zlib, readline,
# curses, uuid, expat, crypt) and the CA bundle; nothing else (minbase has no apt recommends, no docs).
packages=libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,zlib1g,libreadline8,libncursesw6,libuuid1,libexpat1,libcrypt1,ca-certificates
# The same Debian mirror as this machine's apt, when it names one (debootstrap's default otherwise).
mirror=$(awk '$1 == "URIs:" && $2 ~ /\/debian$/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
root=$(mktemp -d /tmp/eneo-lambda-root.XXXXXX)
trap 'rm -rf "$root"' EXIT
started=$SECONDS
debootstrap --variant=minbase --include="$packages" bookworm "$root" ${mirror:+"$mirror"} >"$root.log" 2>&1 || {
    tail -n 30 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
tar -C "$root" -c . | docker import - "$tag" >/dev/null
echo "base image $tag: built in $((SECONDS - started)) s"

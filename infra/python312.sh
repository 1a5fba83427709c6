# Sourced by infra/conformance/run.sh and infra/openfaas/build.sh: sets `python312` to a CPython 3.12 built
# for this Debian release, the interpreter copied into the Lambda-compatible image (Debian bookworm packages
# only 3.11). PYTHON312 wins when set; then python3.12 on PATH; then pyenv's 3.12 builds (this machine kind
# has them). Exits 2 with what to install when none is found: a fresh CI machine without pyenv has none.
python312=
for candidate in ${PYTHON312:+"$PYTHON312"} python3.12 \
        "$(command -v pyenv >/dev/null && pyenv root || echo "$HOME/.pyenv")"/versions/3.12*/bin/python3.12; do
    if "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
        python312=$(command -v "$candidate"); break
    fi
done
if [ -z "$python312" ]; then
    echo "no CPython 3.12 found (the Lambda image's interpreter): looked at \$PYTHON312, python3.12 on PATH and" \
        "pyenv's versions/3.12*; install one (e.g. \`pyenv install 3.12\`) or set PYTHON312 to its python3.12" >&2
    exit 2
fi

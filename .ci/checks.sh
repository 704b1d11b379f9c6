#!/usr/bin/env bash
# CI checks beside the tests (each step prints its wall time):
#   1. mypy --strict (pyproject.toml's [tool.mypy]): the public API, every generated
#      module, the examples and the guide's examples;
#   2. the API reference with pydoctor, warnings as errors (build/apidocs);
#   3. sdist and wheel (python -m build: the wheel is built from the sdist), then the
#      wheel installed alone into a fresh virtualenv and smoke-tested
#      (tools/wheel_smoke.py, run from outside the source tree).
# Expects the project's virtualenv active with the dev extra installed.
set -eu
cd "$(dirname "$0")/.."
step() { local t0=$SECONDS; "$@"; echo "[checks] $1 ... ok ($((SECONDS - t0)) s)"; }

step mypy

apidocs() {
  rm -rf build/apidocs
  # the library's API; the programs, the test helpers, the compiler and the services'
  # internals stay out of the reference (they are parsed, so their docstrings must
  # be valid too)
  pydoctor --quiet --warnings-as-errors --html-output=build/apidocs \
    --docformat=restructuredtext --project-name="v23py $(python -c 'import v23py; print(v23py.__version__)')" \
    --project-url=https://github.com/vanadium/core \
    --privacy="HIDDEN:v23py.cmd" --privacy="HIDDEN:v23py.testing" \
    --privacy="HIDDEN:v23py.vdl.compiler" --privacy="HIDDEN:v23py.services" \
    --privacy="HIDDEN:v23py.discharger" --privacy="HIDDEN:v23py.xproxy" \
    --privacy="HIDDEN:v23py.mounttable" --privacy="HIDDEN:v23py.stats" \
    --privacy="HIDDEN:v23py.query" --privacy="HIDDEN:v23py.flow" --privacy="HIDDEN:v23py.xref" \
    --privacy="HIDDEN:v23py.**._*" \
    v23py
  test -f build/apidocs/index.html
}
step apidocs

wheel() {
  rm -rf dist
  python -m build --outdir dist . > build/build.log 2>&1 || { tail -30 build/build.log; exit 1; }
  ls dist/v23py-*.tar.gz dist/v23py-*-py3-none-any.whl
  local venv
  venv=$(mktemp -d /tmp/v23py-wheel-XXXXXX)
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q dist/v23py-*-py3-none-any.whl
  (cd "$venv" && PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" "$OLDPWD/tools/wheel_smoke.py")
  rm -rf "$venv"
}
step wheel

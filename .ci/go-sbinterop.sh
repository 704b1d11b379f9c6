#!/usr/bin/env bash
# go-sbinterop.sh [GOSB_DIR] -- builds tests/interop/go/sbinterop (our Go program over Go's
# 2017 Syncbase client library) inside the module that ../shared/go-syncbase/build.sh
# made in GOSB_DIR (default .gopeers/go-syncbase), into GOSB_DIR/bin/sbinterop.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
D="$(realpath -m "${1:-$root/.gopeers/go-syncbase}")"
[ -f "$D/mod/go.mod" ] || { echo "go-sbinterop.sh: no $D/mod/go.mod (run ../shared/go-syncbase/build.sh first)" >&2; exit 1; }
rm -rf "$D/mod/sbinterop"
mkdir -p "$D/mod/sbinterop"
cp "$root/tests/interop/go/sbinterop/main.go" "$D/mod/sbinterop/"
cd "$D/mod"
GOFLAGS="-buildvcs=false -mod=mod" CGO_ENABLED=0 go build -p 1 -o "$D/bin/" ./sbinterop
echo "built: $D/bin/sbinterop"

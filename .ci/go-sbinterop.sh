#!/usr/bin/env bash
# go-sbinterop.sh [GOSB_DIR] -- builds our Go programs over Go's 2017 Syncbase client
# library, tests/interop/go/sbinterop (mixed-sync tests) and tests/interop/go/sbextra
# (conflict resolver, schemas, invites), inside the module that
# ../shared/go-syncbase/build.sh made in GOSB_DIR (default .gopeers/go-syncbase), into
# GOSB_DIR/bin.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
D="$(realpath -m "${1:-$root/.gopeers/go-syncbase}")"
[ -f "$D/mod/go.mod" ] || { echo "go-sbinterop.sh: no $D/mod/go.mod (run ../shared/go-syncbase/build.sh first)" >&2; exit 1; }
for prog in sbinterop sbextra; do
  rm -rf "$D/mod/$prog"
  mkdir -p "$D/mod/$prog"
  cp "$root/tests/interop/go/$prog/main.go" "$D/mod/$prog/"
  (cd "$D/mod" && GOFLAGS="-buildvcs=false -mod=mod" CGO_ENABLED=0 go build -p 1 -o "$D/bin/" "./$prog")
  echo "built: $D/bin/$prog"
done

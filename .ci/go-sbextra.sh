#!/usr/bin/env bash
# go-sbextra.sh [GOSB [OUT]] -- builds tests/interop/go/sbextra (v23py's own Go test
# program over Go's 2017 Syncbase client library: conflict resolver, schemas, invites)
# against the go-syncbase build (GOSB, default .gopeers/go-syncbase, made by
# ../shared/go-syncbase/build.sh) into OUT/bin (default .gopeers/sbextra).
# On failure it writes the reason to OUT/FAILED and exits 0: the tests that need the
# program then skip (outside CI) or fail (in CI) saying why.
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
gosb="$(realpath -m "${1:-$root/.gopeers/go-syncbase}")"
out="$(realpath -m "${2:-$root/.gopeers/sbextra}")"
mkdir -p "$out/bin"
rm -f "$out/FAILED"
fail() { echo "$*" > "$out/FAILED"; echo "!!!!!!!! sbextra NOT BUILT: $* !!!!!!!!" >&2; exit 0; }
command -v go >/dev/null 2>&1 || fail "go is not installed"
[ -d "$gosb/vio" ] && [ -f "$gosb/mod/go.sum" ] || fail "no go-syncbase build at $gosb (run ../shared/go-syncbase/build.sh)"
rm -rf "$out/mod" && mkdir -p "$out/mod"
cp "$root/tests/interop/go/sbextra/main.go" "$out/mod/"
cp "$gosb/mod/go.sum" "$out/mod/"
cat > "$out/mod/go.mod" <<MOD
module v23py.test/sbextra

go 1.18

require v.io v0.2.0

replace v.io => $gosb/vio
MOD
cd "$out/mod"
export GOFLAGS=-buildvcs=false CGO_ENABLED=0
if ! GOFLAGS="$GOFLAGS -mod=mod" timeout 900 go mod tidy > "$out/build.log" 2>&1; then
  fail "go mod tidy failed: $(tail -3 "$out/build.log" | tr '\n' ' ')"
fi
if ! timeout 900 go build -p 1 -o "$out/bin/sbextra" . >> "$out/build.log" 2>&1; then
  fail "go build failed: $(tail -3 "$out/build.log" | tr '\n' ' ')"
fi
echo "sbextra built: $out/bin/sbextra"

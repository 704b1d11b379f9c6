#!/usr/bin/env bash
# Builds the Go Vanadium peers used by the interop tests (module v.io, v0.2.0) into
# .gopeers/bin. `go install v.io/...@v0.2.0` is refused by the module proxy's version
# list here, so we build them from a throwaway module that requires v.io v0.2.0.
# On failure it writes the reason to .gopeers/FAILED; interop tests skip with it.
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/.gopeers"
mkdir -p "$dir/bin"
rm -f "$dir/FAILED"
fail() { echo "$*" > "$dir/FAILED"; echo "!!!!!!!! GO PEERS NOT BUILT: $* !!!!!!!!" >&2; exit 0; }
command -v go >/dev/null 2>&1 || fail "go is not installed"
cat > "$dir/go.mod" <<'MOD'
module v23pypeers

go 1.18

require v.io v0.2.0
MOD
cat > "$dir/tools.go" <<'SRC'
//go:build tools

package tools

import (
	_ "v.io/x/ref/cmd/mounttable"
	_ "v.io/x/ref/cmd/namespace"
	_ "v.io/x/ref/cmd/principal"
	_ "v.io/x/ref/cmd/vrpc"
	_ "v.io/x/ref/services/debug/debug"
	_ "v.io/x/ref/services/mounttable/mounttabled"
)
SRC
cd "$dir"
if ! GOFLAGS=-mod=mod timeout 900 go mod tidy > "$dir/build.log" 2>&1; then
  fail "go mod tidy failed: $(tail -3 "$dir/build.log" | tr '\n' ' ')"
fi
if ! timeout 900 go build -o "$dir/bin/" v.io/x/ref/cmd/vrpc v.io/x/ref/cmd/principal \
    v.io/x/ref/services/mounttable/mounttabled v.io/x/ref/cmd/namespace \
    v.io/x/ref/cmd/mounttable v.io/x/ref/services/debug/debug >> "$dir/build.log" 2>&1; then
  fail "go build failed: $(tail -3 "$dir/build.log" | tr '\n' ' ')"
fi
echo "Go peers built in $dir/bin: $(ls "$dir/bin" | tr '\n' ' ')"
# v23py's own Go test program over Go's 2017 Syncbase client library (conflict resolver,
# schemas, invites), once Go's Syncbase (../shared/go-syncbase/build.sh) is built
bash "$root/.ci/go-sbextra.sh"

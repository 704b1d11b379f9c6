#!/usr/bin/env bash
# Builds the small Go programs of the interop tests and benchmarks that need only Go
# Vanadium v0.2.0 (tests/interop/go/<name>/main.go or benchmarks/go/<name>/main.go for
# each name in PROGRAMS) into .gopeers/bin ($V23PY_GOPEERS/bin when set), from a
# throwaway module the way .ci/go-peers.sh builds Go's own tools (sharing its module
# cache). (sbinterop, over Go's 2017 Syncbase, is built by .ci/go-sbinterop.sh.)
# On failure it writes the reason to .gopeers/programs/FAILED; the tests skip with it.
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
gopeers="${V23PY_GOPEERS:-$root/.gopeers}"
out="$gopeers/bin"
dir="$gopeers/programs"
mkdir -p "$out" "$dir"
rm -f "$dir/FAILED"
fail() { echo "$*" > "$dir/FAILED"; echo "!!!!!!!! GO PROGRAMS NOT BUILT: $* !!!!!!!!" >&2; exit 0; }
command -v go >/dev/null 2>&1 || fail "go is not installed"
cat > "$dir/go.mod" <<'MOD'
module v23pyprograms

go 1.18

require v.io v0.2.0
MOD
PROGRAMS="godischargerd vombench"
names=""
for name in $PROGRAMS; do
  mkdir -p "$dir/$name"
  src="$root/tests/interop/go/$name/main.go"
  [ -f "$src" ] || src="$root/benchmarks/go/$name/main.go"
  cp "$src" "$dir/$name/main.go"
  names="$names ./$name"
done
cd "$dir"
if ! GOFLAGS=-mod=mod timeout 900 go mod tidy > "$dir/build.log" 2>&1; then
  fail "go mod tidy failed: $(tail -3 "$dir/build.log" | tr '\n' ' ')"
fi
# shellcheck disable=SC2086
if ! timeout 900 go build -o "$out/" $names >> "$dir/build.log" 2>&1; then
  fail "go build failed: $(tail -3 "$dir/build.log" | tr '\n' ' ')"
fi
echo "Go programs built in $out:$names"

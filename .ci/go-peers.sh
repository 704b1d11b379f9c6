#!/usr/bin/env bash
# Builds the Go Vanadium peers of the interop tests into .gopeers/, in three groups:
#   tools      v.io v0.2.0's vrpc, principal, mounttabled, namespace, mounttable, debug,
#              xproxyd
#              -> .gopeers/bin (from a throwaway module: `go install v.io/...@v0.2.0` is
#              refused by the module proxy's version list here)
#   benchmark  Go's RPC benchmark pair benchmarkd, benchmark -> .gopeers/bin
#              (../shared/go-benchmark/build.sh; needs a git mirror of vanadium/core)
#   syncbase   Go's 2017 syncbased, sbclient, sb over v0.2.0, and our Go program
#              sbinterop over Go's 2017 client library -> .gopeers/go-syncbase/bin
#              (../shared/go-syncbase/build.sh, then .ci/go-sbinterop.sh; needs git
#              mirrors of vanadium-archive/go.ref and go.v23)
# The git mirrors are looked for, in order: under .mirror/ in a folder above the project or
# ../shared (where the workplace's fetch puts them), under $V23PY_MIRRORS, under
# ${WORK:-/work}/.mirror, and last in this machine's cache ($V23PY_CACHE, default
# ~/.cache/v23py/mirrors), which every run that finds a mirror elsewhere refreshes: a CI run
# on a clean clone somewhere else on the machine builds from the same sources. A group that cannot be built leaves its reason in
# .gopeers/FAILED (tools), .gopeers/FAILED-go-benchmark or .gopeers/FAILED-go-syncbase,
# and a banner says so; the tests of that group then fail with that reason in CI and skip with
# it elsewhere (v23py/testing/__init__.py).
# A group whose inputs have not changed since its last successful build is kept as is.
# Always exits 0: the tests decide.
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/.gopeers"
shared="${V23PY_SHARED:-$(dirname "$root")/shared}"
mkdir -p "$dir/bin"
failed=()
banner() {  # banner FILE-SUFFIX GROUP REASON
  echo "$3" > "$dir/FAILED$1"
  failed+=("$2")
  {
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    echo "!!!!!!!! GO PEERS NOT BUILT ($2): $3"
    echo "!!!!!!!! their interop tests FAIL in CI (skip elsewhere) with this reason; README 'Go peers' says how"
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  } >&2
}
stamp() {  # stamp FILE...: a digest of the inputs of a group
  cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1
}

# -- mirrors ----------------------------------------------------------------------
cache="${V23PY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/v23py/mirrors}"
mirror() {  # mirror NAME (owner+repo): prints the repo folder of a git mirror, or fails
  local d start found=""
  for start in "$root" "$shared"; do
    d="$start"
    while [ "$d" != / ] && [ -z "$found" ]; do
      [ -d "$d/.mirror/$1/repo" ] && found="$d/.mirror/$1/repo"
      d=$(dirname "$d")
    done
  done
  for d in ${V23PY_MIRRORS:+"$V23PY_MIRRORS/$1/repo"} "${WORK:-/work}/.mirror/$1/repo"; do
    [ -z "$found" ] && [ -d "$d" ] && found="$d"
  done
  if [ -n "$found" ] && git -C "$found" rev-parse -q --verify HEAD >/dev/null 2>&1; then
    # refresh the machine's copy when its newest commit differs (copied aside, then swapped)
    if [ "$(git -C "$found" rev-parse HEAD)" != "$(git -C "$cache/$1/repo" rev-parse HEAD 2>/dev/null)" ]; then
      mkdir -p "$cache/$1" && rm -rf "$cache/$1/repo.new" &&
        cp -a "$found" "$cache/$1/repo.new" && rm -rf "$cache/$1/repo" &&
        mv "$cache/$1/repo.new" "$cache/$1/repo" ||
        echo "note: could not copy the $1 mirror into $cache" >&2
    fi
    echo "$found"; return 0
  fi
  if git -C "$cache/$1/repo" rev-parse -q --verify HEAD >/dev/null 2>&1; then
    echo "note: no fetched $1 mirror found; using this machine's copy in $cache/$1/repo" >&2
    echo "$cache/$1/repo"; return 0
  fi
  return 1
}
no_mirror() {  # no_mirror NAME: the reason printed when no copy of a mirror exists anywhere
  echo "no git mirror of $1: looked under .mirror/ above $root and $shared, \$V23PY_MIRRORS, ${WORK:-/work}/.mirror and $cache (README 'Go peers' says how to get it)"
}

# -- tools ------------------------------------------------------------------------
build_tools() {
  # its own module directory: a module rooted at .gopeers would take in the 2017
  # sources under .gopeers/go-syncbase/src and fail to tidy
  local mod="$dir/tools-mod"
  rm -f "$dir/FAILED" "$dir/go.mod" "$dir/go.sum" "$dir/tools.go"
  command -v go >/dev/null 2>&1 || { banner "" tools "go is not installed"; return; }
  mkdir -p "$mod"
  cat > "$mod/go.mod" <<'MOD'
module v23pypeers

go 1.18

require v.io v0.2.0
MOD
  cat > "$mod/tools.go" <<'SRC'
//go:build tools

package tools

import (
	_ "v.io/x/ref/cmd/mounttable"
	_ "v.io/x/ref/cmd/namespace"
	_ "v.io/x/ref/cmd/principal"
	_ "v.io/x/ref/cmd/vrpc"
	_ "v.io/x/ref/services/debug/debug"
	_ "v.io/x/ref/services/mounttable/mounttabled"
	_ "v.io/x/ref/services/xproxy/xproxyd"
)
SRC
  if ! (cd "$mod" && GOFLAGS=-mod=mod timeout 900 go mod tidy) > "$dir/build.log" 2>&1; then
    banner "" tools "go mod tidy failed: $(tail -3 "$dir/build.log" | tr '\n' ' ')"; return
  fi
  if ! (cd "$mod" && timeout 900 go build -o "$dir/bin/" v.io/x/ref/cmd/vrpc \
      v.io/x/ref/cmd/principal v.io/x/ref/services/mounttable/mounttabled \
      v.io/x/ref/cmd/namespace v.io/x/ref/cmd/mounttable \
      v.io/x/ref/services/debug/debug \
      v.io/x/ref/services/xproxy/xproxyd) >> "$dir/build.log" 2>&1; then
    banner "" tools "go build failed: $(tail -3 "$dir/build.log" | tr '\n' ' ')"; return
  fi
  echo "Go tools built in $dir/bin"
}

# -- benchmark --------------------------------------------------------------------
build_benchmark() {
  local script="$shared/go-benchmark/build.sh" log="$dir/go-benchmark.log" s
  rm -f "$dir/FAILED-go-benchmark"
  [ -f "$script" ] || { banner -go-benchmark benchmark "$script not found (../shared is absent)"; return; }
  command -v go >/dev/null 2>&1 || { banner -go-benchmark benchmark "go is not installed"; return; }
  s=$(stamp "$script")
  local core
  core=$(mirror vanadium+core) || { banner -go-benchmark benchmark "$(no_mirror vanadium+core)"; return; }
  if [ -x "$dir/bin/benchmarkd" ] && [ -x "$dir/bin/benchmark" ] && \
     [ "$(cat "$dir/go-benchmark.stamp" 2>/dev/null)" = "$s" ]; then
    echo "Go benchmark pair up to date in $dir/bin"; return
  fi
  if ! (cd "$root" && CORE_MIRROR="$core" timeout 900 bash "$script" "$dir/bin") > "$log" 2>&1; then
    banner -go-benchmark benchmark "$(tail -3 "$log" | tr '\n' ' ')"; return
  fi
  echo "$s" > "$dir/go-benchmark.stamp"
  echo "Go benchmark pair built in $dir/bin"
}

# -- syncbase ---------------------------------------------------------------------
build_syncbase() {
  local script="$shared/go-syncbase/build.sh" out="$dir/go-syncbase" log="$dir/go-syncbase.log" s t
  rm -f "$dir/FAILED-go-syncbase"
  [ -f "$script" ] || { banner -go-syncbase syncbase "$script not found (../shared is absent)"; return; }
  command -v go >/dev/null 2>&1 || { banner -go-syncbase syncbase "go is not installed"; return; }
  s=$(stamp "$script")
  local goref gov23
  goref=$(mirror vanadium-archive+go.ref) || { banner -go-syncbase syncbase "$(no_mirror vanadium-archive+go.ref)"; return; }
  gov23=$(mirror vanadium-archive+go.v23) || { banner -go-syncbase syncbase "$(no_mirror vanadium-archive+go.v23)"; return; }
  t=$(stamp "$root/.ci/go-sbinterop.sh" "$root/tests/interop/go/sbinterop/main.go" \
            "$root/tests/interop/go/sbextra/main.go")
  if [ -x "$out/bin/syncbased" ] && [ "$(cat "$dir/go-syncbase.stamp" 2>/dev/null)" = "$s" ]; then
    echo "Go Syncbase up to date in $out/bin"
  else
    rm -f "$dir/go-syncbase.stamp" "$dir/sbinterop.stamp"
    if ! (cd "$root" && GOREF_MIRROR="$goref" GOV23_MIRROR="$gov23" timeout 1200 bash "$script" "$out") > "$log" 2>&1; then
      banner -go-syncbase syncbase "$(tail -3 "$log" | tr '\n' ' ')"; return
    fi
    echo "$s" > "$dir/go-syncbase.stamp"
  fi
  if [ -x "$out/bin/sbinterop" ] && [ -x "$out/bin/sbextra" ] && \
     [ "$(cat "$dir/sbinterop.stamp" 2>/dev/null)" = "$t" ]; then
    echo "sbinterop and sbextra up to date in $out/bin"
  else
    if ! timeout 900 bash "$root/.ci/go-sbinterop.sh" "$out" >> "$log" 2>&1; then
      banner -go-syncbase syncbase "sbinterop/sbextra: $(tail -3 "$log" | tr '\n' ' ')"; return
    fi
    echo "$t" > "$dir/sbinterop.stamp"
  fi
  echo "Go Syncbase ready in $out/bin: $(ls "$out/bin" | tr '\n' ' ')"
}

build_tools
build_benchmark
build_syncbase
if [ ${#failed[@]} -eq 0 ]; then
  echo "Go peers ready: $(ls "$dir/bin" | tr '\n' ' ')/ go-syncbase: $(ls "$dir/go-syncbase/bin" | tr '\n' ' ')"
fi
exit 0

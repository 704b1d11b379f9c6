#!/usr/bin/env bash
# The unit suite (every test package but tests/e2e, tests/interop and tests/docs, which
# run real processes and Go peers) on the oldest and the newest Python the package supports,
# 3.10 and 3.13.  The whole suite runs on 3.11 (.ci/run).  3.12 is left out since CI had to
# fit 30 minutes on a host half as fast as before: the three unit runs side by side took
# 500 s there, CPU-bound (session 9).  Each Python gets its own virtualenv
# (.venv-py3.X) with the unit extra, installed editable from this tree.
#
# The runs go side by side: the unit suite mostly waits (timers, loopback round
# trips, subprocesses) -- one run at -j2 used ~100 s of CPU in ~230 s -- so together they
# take about as long as one did alone.
set -eu
cd "$(dirname "$0")/.."
# (tests/test_architecture.py reads the import graph, which no interpreter changes: the
# import-linter that installs on 3.10 lacks its private_modules and acyclic_siblings
# contracts, so it runs on 3.11 only, with the whole suite)
UNIT=$(cd tests && ls -d */ test_*.py |
       grep -v '^e2e/$\|^interop/$\|^docs/$\|^__pycache__/$\|^test_architecture.py$' |
       sed 's#/$##; s#\.py$##; s#^#tests.#')
VERSIONS="3.10 3.13"
declare -A PY PID T0
for v in $VERSIONS; do
  py=$(ls /root/.pyenv/versions/$v.*/bin/python$v 2>/dev/null | head -1 || true)
  [ -n "$py" ] || py=$(command -v python$v || true)
  [ -n "$py" ] || { echo "python$v is not on this machine"; exit 1; }
  PY[$v]=$py
  venv=.venv-py$v
  [ -x $venv/bin/python ] || "$py" -m venv $venv
  $venv/bin/python -m pip install -q -e '.[unit]'
done
t0=$SECONDS
for v in $VERSIONS; do
  # tools/run_tests.py: under CI=1 a skip not on tests/allowed_skips.txt fails here too
  .venv-py$v/bin/python tools/run_tests.py --temp-directory=_trial_temp-py$v -j2 $UNIT \
    < /dev/null > .ci-py$v.log 2>&1 &
  PID[$v]=$!
done
failed=0
for v in $VERSIONS; do
  rc=0
  wait "${PID[$v]}" || rc=$?
  if [ $rc -ne 0 ]; then
    tail -60 .ci-py$v.log
    echo "[pythons] unit suite FAILED on $("${PY[$v]}" --version)"
    failed=1
  else
    echo "[pythons] $("${PY[$v]}" --version): $(tail -1 .ci-py$v.log) ($((SECONDS - t0)) s)"
  fi
done
exit $failed

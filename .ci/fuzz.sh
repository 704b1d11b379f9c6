#!/usr/bin/env bash
# CI: a short coverage-guided fuzzing run (issue 12) before the tests.  atheris where it
# installs (else hypothesis, already in the test extra) over the VOM decoder, the flow
# message parser, the handshake and the syncQL parser, ~25 s each, two at a time, seeded
# with the committed corpus in fuzz/corpus.  A child still running when its part of the
# 100 s budget is spent (instrumenting and replaying the corpus count) is stopped, so the
# step stays under 2 minutes on a slow machine too.  Never fails the job by itself: an
# input that breaks a target lands in .fuzz/crashes, which
# tests/security/test_fuzz_corpus.py replays, so a find shows up as a failed test in the
# suite's count (with the input's path).  The whole step's time is printed at its end.
set -u
cd "$(dirname "$0")/.."
step=$(date +%s)
rm -rf .fuzz && mkdir -p .fuzz/crashes
python -m pip install -q 'atheris>=2.3' 2>/dev/null \
    || echo "fuzz: atheris does not install here; hypothesis instead"
start=$(date +%s)
python fuzz/run.py --seconds "${V23PY_FUZZ_SECONDS:-25}" --jobs 2 \
    --budget "${V23PY_FUZZ_BUDGET:-100}" --crashes .fuzz/crashes \
    || echo "fuzz: inputs that break a target were saved under .fuzz/crashes"
echo "fuzz: $(( $(date +%s) - start )) s fuzzing, $(( $(date +%s) - step )) s in all"
exit 0

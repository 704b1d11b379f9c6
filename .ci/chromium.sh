#!/usr/bin/env bash
# Debian's chromium for the browser test of `debug browse` (tests/e2e/test_debug_browse.py),
# which drives it with playwright (executable_path; playwright downloads no browser).
# A failed install does not stop CI: that test then fails, saying chromium is missing.
set -u
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
{ apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium > /dev/null; } \
    || echo "chromium: apt-get install failed" >&2

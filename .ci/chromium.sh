#!/usr/bin/env bash
# Debian's chromium for the browser test of `debug browse` (tests/test_debug_browse.py),
# which drives it with playwright (executable_path; playwright downloads no browser).
set -eu
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium > /dev/null

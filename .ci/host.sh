#!/usr/bin/env bash
# The host's own devices that the tests and tools rely on.  /dev/null has been found
# replaced by a regular file on this shared machine (some tool renamed or removed it, and
# the next `> /dev/null` made a file): then `read < /dev/null` gets what others wrote
# there, and tests fail for no fault of the code.  Say so plainly instead.
set -u
bad=0
for dev in /dev/null /dev/zero /dev/urandom; do
  if [ ! -c "$dev" ]; then
    echo "!!! HOST BROKEN: $dev is not a character device ($(stat -c %F "$dev" 2>&1))." >&2
    echo "!!! Restore it as root, e.g. for /dev/null: rm -f /dev/null && mknod -m 666 /dev/null c 1 3" >&2
    bad=1
  fi
done
exit $bad

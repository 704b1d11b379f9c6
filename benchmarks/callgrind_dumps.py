"""Reading callgrind's dump files: the instruction count a dump holds.

A dump's ``totals:`` line is the cost of what it covers.  (Its ``summary:`` line is not
always: in dumps asked for with ``callgrind_control --dump`` it was seen wrong, even
negative, while ``totals:`` was right.)
"""
from __future__ import annotations

import glob
import os
import re

_TOTALS = re.compile(r"^totals:\s+(\d+)", re.M)


def dump_total(path: str) -> int | None:
    """The instructions in one dump file; None while the file is not written in full."""
    with open(path) as f:
        m = _TOTALS.search(f.read())
    return int(m.group(1)) if m else None


def new_dumps_total(pattern: str, before: set[str], remove: bool = True) -> int | None:
    """The instructions in the dump files matching ``pattern`` that are not in ``before``
    (summed; None when none is complete yet).  ``remove``: delete each one counted."""
    total = None
    for path in sorted(set(glob.glob(pattern)) - before):
        n = dump_total(path)
        if n is not None:
            total = (total or 0) + n
            if remove:
                os.remove(path)
    return total

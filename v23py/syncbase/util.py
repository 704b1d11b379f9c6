"""Pure helpers shared by the Syncbase client library and the daemon.

Naming facts follow Go's ``v.io/v23/syncbase/util`` and ``v.io/v23/naming``:

* a name component is encoded by escaping ``%`` and ``/`` as ``%XX`` (upper-case
  hex); decoding accepts any ``%XX`` (either case) and rejects a malformed escape;
* an Id ``{Blessing, Name}`` prints as ``"<blessing>,<name>"`` and parses at the
  *first* comma;
* Ids and row keys are validated as Go does (lengths, reserved bytes
  ``\\x00 \\xfc-\\xff``, control characters, blessing-pattern rules);
* ``prefix_range_limit`` increments a byte string as a base-256 number after
  dropping trailing ``\\xff`` bytes (all-``\\xff`` gives ``b""``, unbounded).

Strings are Python ``str`` (VDL strings); byte-level operations work on their
UTF-8 form, which is what Go sees.
"""
from __future__ import annotations

import functools
import re
from typing import Any, TypeVar

from v23py.gostrings import go_bytes, go_string
from v23py.records import NamedTuple

_S = TypeVar("_S", str, bytes)

from v23py.security import ALL_PRINCIPALS, CHAIN_SEPARATOR, NO_EXTENSION, BlessingPattern

__all__ = [
    "Id", "encode", "decode", "encode_id", "decode_id", "parse_id",
    "validate_id", "validate_row_key", "prefix_range_limit", "is_prefix",
    "InvalidNameError",
    "app_and_user_pattern_from_blessings", "parse_blessing_names",
    "NO_EXTENSION", "ALL_PRINCIPALS", "CHAIN_SEPARATOR",
    "MAX_BLESSING_LEN", "MAX_NAME_LEN",
]

MAX_BLESSING_LEN = 1024
MAX_NAME_LEN = 1024
# Go reserves the bytes 0x00 and 0xfc-0xff.  A Python str holds code points and
# its UTF-8 form never contains bytes 0xfc-0xff, so only NUL can occur (and NUL
# is also a control character).  Note "\xfc" here would be the code point U+00FC.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_HEX = "0123456789ABCDEF"


class InvalidNameError(ValueError):
    """A name component or Id that Go's Syncbase would reject (message says why)."""


class Id(NamedTuple):
    """A database, collection or syncgroup id (wire struct ``syncbase.Id``)."""
    Blessing: str
    Name: str

    def __str__(self) -> str:
        return self.Blessing + "," + self.Name


def parse_id(s: str) -> Id:
    """Inverse of ``str(Id)``: split at the first comma."""
    blessing, sep, name = s.partition(",")
    if not sep:
        raise InvalidNameError(f"invalid id string {s!r}: no comma")
    return Id(blessing, name)


def encode(s: str) -> str:
    """Escape ``%`` and ``/`` as ``%25`` and ``%2F`` so ``s`` is one name element."""
    if "%" not in s and "/" not in s:
        return s
    return s.replace("%", "%25").replace("/", "%2F")


def decode(s: str) -> str:
    """Undo ``%XX`` escapes; raise InvalidNameError on a malformed escape."""
    if "%" not in s:
        return s
    raw = s.encode("utf-8")
    out = bytearray()
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c != 0x25:
            out.append(c)
            i += 1
            continue
        h = raw[i + 1:i + 3]
        if n <= i + 2 or not all(ch in b"0123456789abcdefABCDEF" for ch in h):
            raise InvalidNameError(f"failed to decode component name: {s}")
        out.append(int(h, 16))
        i += 3
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidNameError(f"decoded component is not UTF-8: {s}") from None


def encode_id(id_: Any) -> str:
    return encode(_id_str(id_))


def decode_id(s: str) -> Id:
    return parse_id(decode(s))


def _id_str(id_: Any) -> str:
    return str(id_.Blessing) + "," + str(id_.Name)


def _has_control(s: str) -> bool:
    """Unicode category Cc (Go's unicode.IsControl): C0 controls, DEL, C1 controls."""
    return _CONTROL.search(s) is not None


def _has_reserved(s: str) -> bool:
    return "\x00" in s


@functools.lru_cache(maxsize=4096)
def _validate_id_cached(b: str, n: str) -> None:
    _validate_id(b, n)


def validate_id(id_: Any) -> None:
    """Raise InvalidNameError unless ``id_`` is a valid Syncbase Id (Go's ValidateId)."""
    _validate_id_cached(id_.Blessing, id_.Name)


def _validate_id(b: str, n: str) -> None:
    blen, nlen = len(b.encode("utf-8")), len(n.encode("utf-8"))
    if blen == 0:
        raise InvalidNameError("Id blessing cannot be empty")
    if blen > MAX_BLESSING_LEN:
        raise InvalidNameError(f"Id blessing exceeds {MAX_BLESSING_LEN} bytes")
    if nlen == 0:
        raise InvalidNameError("Id name cannot be empty")
    if nlen > MAX_NAME_LEN:
        raise InvalidNameError(f"Id name exceeds {MAX_NAME_LEN} bytes")
    if b == NO_EXTENSION:
        raise InvalidNameError(
            f"Id blessing {b!r} cannot match any blessings, check blessing conventions")
    if not BlessingPattern(b).is_valid() or _has_control(b):
        raise InvalidNameError(f"Id blessing {b!r} is not a valid blessing pattern")
    if _has_reserved(b):
        raise InvalidNameError(f"Id blessing {b!r} contains a reserved byte")
    if _has_control(n):
        raise InvalidNameError(f"Id name {n!r} contains a control character")
    if _has_reserved(n):
        raise InvalidNameError(f"Id name {n!r} contains a reserved byte")


def validate_row_key(key: str) -> None:
    """Raise InvalidNameError unless ``key`` is a valid row key."""
    if not isinstance(key, str) or key == "":
        raise InvalidNameError("row key cannot be empty")
    if _has_control(key):
        raise InvalidNameError(f"row key {key!r} contains a control character")
    if _has_reserved(key):
        raise InvalidNameError(f"row key {key!r} contains a reserved byte")


def prefix_range_limit(p: _S) -> _S:
    """Smallest string greater than every string with prefix ``p`` (str or bytes in, same out)."""
    as_str = isinstance(p, str)
    x = bytearray(go_bytes(p) if isinstance(p, str) else p)
    while x:
        if x[-1] == 0xFF:
            x.pop()
        else:
            x[-1] += 1
            break
    out = bytes(x)
    if as_str:
        return go_string(out)  # type: ignore[return-value]
    return out  # type: ignore[return-value]


def is_prefix(start: _S, limit: _S) -> bool:
    return prefix_range_limit(start) == limit


# --- blessing conventions (Go's v.io/v23/conventions) ----------------------

class ParsedBlessing(NamedTuple):
    idp: str
    user: str
    app: str
    rest: str

    def _pattern(self, *elems: str) -> str:
        if any(e == "" for e in elems):
            return NO_EXTENSION
        return ":".join(elems)

    def user_pattern(self) -> str:
        return self._pattern(self.idp, "u", self.user)

    def app_user_pattern(self) -> str:
        return self._pattern(self.idp, "o", self.app, self.user)

    def app_pattern(self) -> str:
        return self._pattern(self.idp, "o", self.app)


def parse_blessing_names(*names: str) -> list[ParsedBlessing]:
    out: list[ParsedBlessing] = []
    for n in names:
        parts = n.split(":", 3)
        if len(parts) < 3:
            continue
        rest = parts[3] if len(parts) > 3 else ""
        if parts[1] == "u":
            out.append(ParsedBlessing(parts[0], parts[2], "", rest))
        elif parts[1] == "o":
            if not rest:
                continue
            more = rest.split(":", 1)
            out.append(ParsedBlessing(parts[0], more[0], parts[2], more[1] if len(more) > 1 else ""))
    return out


class ConventionError(ValueError):
    """Blessing names do not follow (or ambiguously follow) the app/user conventions.

    ``.id`` is the Go error id (``v.io/v23/syncbase/util.Found...``)."""

    def __init__(self, id_: str, msg: str) -> None:
        super().__init__(msg)
        self.id = id_


def app_and_user_pattern_from_blessings(*names: str) -> tuple[str, str]:
    """(app pattern, user pattern) as Go's AppAndUserPatternFromBlessings.

    App:user blessings ``<idp>:o:<app>:<user>`` win; otherwise user blessings
    ``<idp>:u:<user>`` give app pattern ``...``.  Raises ConventionError."""
    pbs = parse_blessing_names(*names)
    found = False
    app = user = NO_EXTENSION
    for b in pbs:
        a, au = b.app_pattern(), b.app_user_pattern()
        if a != NO_EXTENSION and au != NO_EXTENSION:
            if found and (a != app or au != user):
                raise ConventionError("v.io/v23/syncbase/util.FoundMultipleAppUserBlessings",
                                      f"found multiple app:user blessings: {user}, {au}")
            app, user, found = a, au, True
    if found:
        return app, user
    for b in pbs:
        u = b.user_pattern()
        if u != NO_EXTENSION:
            if found and u != user:
                raise ConventionError("v.io/v23/syncbase/util.FoundMultipleUserBlessings",
                                      f"found multiple user blessings: {user}, {u}")
            app, user, found = ALL_PRINCIPALS, u, True
    if found:
        return app, user
    raise ConventionError("v.io/v23/syncbase/util.FoundNoConventionalBlessings",
                          "found no blessings following the app or user conventions")

"""Errors with Go Vanadium's ids, retry actions and wire form.

A ``VError`` is an exception carrying the fields of Go's ``verror.E``
(``Id``, ``RetryCode``, ``Msg``, ``ParamList``), which travel on the wire as the VDL
built-in ``error`` (``?v.io/v23/vdl.WireError``).  By convention ParamList[0] is the
component (server) name and ParamList[1] the operation (method) name.

    NoExist = ErrorId("v.io/v23/verror.NoExist", NoRetry)
    raise NoExist.new("no such fortune")          # Msg "no such fortune"
    raise NoExist.errorf("comp", "Get", "key %s", k)
    if NoExist.is_(err): ...
"""
from __future__ import annotations

import builtins
import enum
import re
from typing import Any, Optional


class RetryCode(enum.IntEnum):
    """Go's ActionCode / the wire's WireRetryCode enum (label order is the wire index)."""
    NoRetry = 0
    RetryConnection = 1
    RetryRefetch = 2
    RetryBackoff = 3


NoRetry = RetryCode.NoRetry
RetryConnection = RetryCode.RetryConnection
RetryRefetch = RetryCode.RetryRefetch
RetryBackoff = RetryCode.RetryBackoff


class VError(Exception):
    """An error with a Go verror id.  Equality compares id, retry code, msg and params."""

    def __init__(self, id: str = "", retry_code: RetryCode = NoRetry, msg: str = "",
                 params: Optional[list[Any]] = None) -> None:
        self.id = id
        self.retry_code = RetryCode(retry_code)
        self.msg = msg
        self.params = list(params) if params else []
        super().__init__(msg or id)

    def __str__(self) -> str:
        return self.msg if self.msg else (self.id or "v.io/v23/verror.Unknown")

    def __repr__(self) -> str:
        return f"VError({self.id!r}, {self.retry_code.name}, {self.msg!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VError):
            # builtins: this module's own NotImplemented is an ErrorId
            return builtins.NotImplemented  # type: ignore[no-any-return]
        return (self.id, self.retry_code, self.msg, self.params) == (
            other.id, other.retry_code, other.msg, other.params)

    def __hash__(self) -> int:
        return hash((self.id, self.msg))

    @property
    def component(self) -> str:
        """The server (ParamList[0]) that made the error, or ""."""
        return self.params[0] if self.params and isinstance(self.params[0], str) else ""

    @property
    def operation(self) -> str:
        """The method (ParamList[1]) that failed, or ""."""
        return self.params[1] if len(self.params) > 1 and isinstance(self.params[1], str) else ""


class ErrorId:
    """A registered error id with its default retry action."""

    def __init__(self, id: str, retry_code: RetryCode = NoRetry, default_msg: str = "") -> None:
        self.id = id
        self.retry_code = RetryCode(retry_code)
        self.default_msg = default_msg

    def new(self, msg: str = "", *params: Any, component: str = "", op: str = "") -> VError:
        """An error with this id; ``msg`` is the full message."""
        text = msg or self.default_msg or self.id
        return VError(self.id, self.retry_code, _prefix(component, op) + text,
                      [component, op, *params])

    __call__ = new

    def errorf(self, component: str, op: str, fmt: str, *args: Any) -> VError:
        """Go's IDAction.Errorf: ``component:op: <fmt % args>``, args kept as params."""
        try:
            text = fmt % args if args else fmt
        except (TypeError, ValueError):
            text = " ".join([fmt, *map(str, args)])
        return VError(self.id, self.retry_code, _prefix(component, op) + text,
                      [component, op, *args])

    def is_(self, err: object) -> bool:
        """Whether ``err`` is a VError with this id."""
        return isinstance(err, VError) and err.id == self.id

    def __repr__(self) -> str:
        return f"ErrorId({self.id!r})"


def _prefix(component: str, op: str) -> str:
    if component and op:
        return f"{component}:{op}: "
    if component:
        return f"{component}: "
    if op:
        return f"{op}: "
    return ""


_PKG = "v.io/v23/verror."
Unknown = ErrorId(_PKG + "Unknown", NoRetry, "Error")
Internal = ErrorId(_PKG + "Internal", NoRetry, "Internal error")
NotImplemented = ErrorId(_PKG + "NotImplemented", NoRetry, "Not implemented")
EndOfFile = ErrorId(_PKG + "EndOfFile", NoRetry, "End of file")
EOF = EndOfFile
BadArg = ErrorId(_PKG + "BadArg", NoRetry, "Bad argument")
BadState = ErrorId(_PKG + "BadState", NoRetry, "Invalid state")
BadVersion = ErrorId(_PKG + "BadVersion", NoRetry, "Version is out of date")
Exist = ErrorId(_PKG + "Exist", NoRetry, "Already exists")
NoExist = ErrorId(_PKG + "NoExist", NoRetry, "Does not exist")
UnknownMethod = ErrorId(_PKG + "UnknownMethod", NoRetry, "Unknown method")
UnknownSuffix = ErrorId(_PKG + "UnknownSuffix", NoRetry, "Unknown suffix")
NoExistOrNoAccess = ErrorId(_PKG + "NoExistOrNoAccess", NoRetry,
                            "Does not exist or access denied")
NoServers = ErrorId(_PKG + "NoServers", RetryRefetch, "No usable servers found")
NoAccess = ErrorId(_PKG + "NoAccess", RetryRefetch, "Access denied")
NotTrusted = ErrorId(_PKG + "NotTrusted", RetryRefetch, "Client does not trust server")
Aborted = ErrorId(_PKG + "Aborted", NoRetry, "Aborted")
BadProtocol = ErrorId(_PKG + "BadProtocol", NoRetry, "Bad protocol or type")
Canceled = ErrorId(_PKG + "Canceled", NoRetry, "Canceled")
Timeout = ErrorId(_PKG + "Timeout", NoRetry, "Timeout")


def from_exception(exc: BaseException, component: str = "", op: str = "") -> VError:
    """Any exception as a VError, as Go converts plain errors (id Unknown)."""
    if isinstance(exc, VError):
        return exc
    text = str(exc) or type(exc).__name__
    return VError(Unknown.id, NoRetry, text, [component, op, text])


def error_id(err: Optional[BaseException]) -> str:
    """The id of ``err`` (Unknown for non-verror errors, "" for None)."""
    if err is None:
        return ""
    return err.id if isinstance(err, VError) else Unknown.id


def format_message(fmt: str, component: str, op: str, *params: Any) -> str:
    """Expand an error format: ``{N}`` is parameter N (1 = component, 2 =
    operation, then the error's own parameters) and ``{_}`` every parameter
    after the operation that no ``{N}`` names, space-separated; ``{:X}`` puts
    a space before and ``{X:}`` a colon after a non-empty value; empty values
    vanish."""
    if not fmt:
        return ""
    values = [component, op, *params]
    named = {int(n) for n in re.findall(_POSITIONAL, fmt)}

    def sub(m: re.Match[str]) -> str:
        pre, key, post = m.group(1), m.group(2), m.group(3)
        if key == "_":
            s = " ".join(str(v) for i, v in enumerate(values[2:], 3)
                         if i not in named and str(v))
        else:
            idx = int(key)
            s = str(values[idx - 1]) if 0 < idx <= len(values) else "?"
        if not s:
            return ""
        return (" " if pre else "") + s + (":" if post else "")
    return re.sub(_PLACEHOLDER, sub, fmt).strip()


# (patterns, compiled by re's cache on first use: compiling at import costs every
# process that never formats an error ~1 M instructions)
_POSITIONAL = r"\{:?(\d+):?\}"
_PLACEHOLDER = r"\{(:?)(\d+|_)(:?)\}"

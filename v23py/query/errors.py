"""syncQL's error ids (Go's ``v.io/v23/query/syncql`` and ``v.io/v23/query/pattern``).

Every query error carries the byte offset into the statement at which it was
detected, as Go's: the message reads ``[<offset>]<text>`` and the parameter
list is ``[component, operation, offset, ...]``.  ``split_error`` recovers the
offset from a message, as Go's ``syncql.SplitError``.
"""
from __future__ import annotations

from v23py import verror
from v23py.verror import ErrorId, NoRetry

_Q = "v.io/v23/query/syncql."
_P = "v.io/v23/query/pattern."

_NAMES = """BadFieldInWhere BoolInvalidExpression CheckOfUnknownStatementType CouldNotConvert
DotNotationDisallowedForKey ExecOfUnknownStatementType Expected ExpectedFrom ExpectedIdentifier
ExpectedOperand ExpectedOperator FunctionArgCount FunctionAtLeastArgCount FunctionTypeInvalidArg
FunctionLenInvalidArg FunctionArgBad FunctionNotFound ArgMustBeField BigIntConversionError
BigRatConversionError BoolConversionError ComplexConversionError UintConversionError
TimeConversionError LocationConversionError StringConversionError FloatConversionError
IntConversionError IsIsNotRequireLhsValue IsIsNotRequireRhsNil InvalidLikePattern
InvalidSelectField KeyExpressionLiteral KeyValueStreamError LikeExpressionsRequireRhsString
LimitMustBeGt0 MaxStatementLenExceeded NoStatementFound OffsetMustBeGe0 ScanError
TableCantAccess Unexpected UnexpectedEndOfStatement UnknownIdentifier InvalidEscapeChar
DidYouMeanLowercaseK DidYouMeanLowercaseV DidYouMeanFunction NotEnoughParamValuesSpecified
TooManyParamValuesSpecified PreparedStatementNotFound IndexKindNotSupported InvalidIndexField
NotWritable OperationNotSupported""".split()

IDS = {n: ErrorId(_Q + n, NoRetry) for n in _NAMES}
globals().update(IDS)

IllegalEscapeChar = ErrorId(_P + "IllegalEscapeChar", NoRetry)
InvalidEscape = ErrorId(_P + "InvalidEscape", NoRetry)


class QueryError(verror.VError):
    """A syncQL error; ``off`` is the byte offset Go reports."""

    @property
    def off(self) -> int:
        return self.params[2] if len(self.params) > 2 and isinstance(self.params[2], int) else 0


def qerr(eid: ErrorId, off: int, text: str, *params) -> QueryError:
    """``[off]text`` with params ``["", "", off, *params]``."""
    return QueryError(eid.id, eid.retry_code, f"[{off}]{text}", ["", "", int(off), *params])


def as_error_param(e):
    """An error as a wire-encodable parameter (a VError)."""
    return e if isinstance(e, verror.VError) else verror.from_exception(e)


def split_error(err) -> tuple[int, str]:
    """Go's SplitError: (offset, rest of the message after ``[offset]``); (0, msg) otherwise."""
    if err is None:
        return 0, ""
    msg = str(err)
    i, j = msg.find("["), msg.find("]")
    if i < 0 or j < 0:
        return 0, msg
    try:
        return int(msg[i + 1:j]), msg[j + 1:]
    except ValueError:
        return 0, msg

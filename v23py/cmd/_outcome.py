"""How a tool's command ends, as Go's tools end it: the one-line error message, the exit
code (2 for a usage error, 1 for any other failure) and the runtime's shutdown."""


def error_text(e):
    """The text Go's tools print after ``ERROR: ``: a verror's message, else the
    exception's text, else its class name (an exception with no text)."""
    return getattr(e, "msg", None) or str(e) or type(e).__name__


def flush_quietly(stream):
    """Flush an output stream whose reader may be gone (a closed pipe): nothing is lost that
    could still be delivered, and the exit code stays the command's own."""
    try:
        stream.flush()
    except Exception:
        pass


def failed(e, err):
    """Report the error a command failed with, as Go's tools do; the exit code."""
    err.write(f"ERROR: {error_text(e)}\n")
    return 1


async def exit_code(body, shutdown, out, err, usage_error, usage=""):
    """Await ``body()`` and turn its outcome into the exit code: its own int (0 for None),
    2 after a ``usage_error`` (with ``usage`` after the message, when given), 1 after any
    other exception. Then flush ``out`` and await ``shutdown()``, whatever happened."""
    try:
        code = await body()
        return 0 if code is None else code
    except usage_error as e:
        err.write(f"ERROR: {e}\n" + (f"\n{usage}" if usage else ""))
        return 2
    except Exception as e:
        return failed(e, err)
    finally:
        flush_quietly(out)
        await shutdown()

"""One exception type for every user-facing evaluation error, so the CLI can
print it as a single line instead of a traceback."""


class EvalError(Exception):
    """Bad input or state for an evaluation run; the message says how to fix it."""

"""Text from outside (HTTP bodies, argv, stdin, config files) checked before it
reaches the tokenizer, which cannot encode what is not valid Unicode.

A JSON string may hold a lone surrogate ("\\ud800"), and Python turns bytes
that are not UTF-8 in argv into surrogate escapes; both are refused with one
line saying where, never replaced silently.
"""

from __future__ import annotations

SURROGATE_ESCAPES = range(0xDC80, 0xDD00)  # Python's stand-ins for undecodable bytes 0x80..0xff


class TextError(ValueError):
    """Text that is not valid Unicode."""


def _describe(char: str) -> str:
    code = ord(char)
    if code in SURROGATE_ESCAPES:
        return f"the byte 0x{code - 0xDC00:02x}, which is not UTF-8"
    return f"a lone surrogate U+{code:04X}"


def checked_text(text: str, what: str) -> str:
    """`text` itself when it is valid Unicode; else a TextError naming `what` and where."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise TextError(f"{what} is not valid Unicode text: {_describe(text[e.start])} at "
                        f"character {e.start}; send UTF-8 text") from None
    return text


def decoded_text(data: bytes, what: str) -> str:
    """Bytes (stdin, a file) as text, refusing what is not UTF-8 with the same kind of line."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TextError(f"{what} is not valid UTF-8: the byte 0x{data[e.start]:02x} at byte "
                        f"{e.start}; send UTF-8 text") from None

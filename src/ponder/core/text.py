"""One policy for text that is not valid Unicode: refuse it, naming where it is.

Python turns bytes that are not UTF-8 (a command line such as ``$'2+2? \\xff'``) into lone
surrogates, and JSON may carry ``"\\ud800"``. Neither can be encoded for a model, so every entry
point (the library, the CLI, the server, each engine) calls :func:`check_text` and reports an
:class:`~ponder.core.errors.InvalidInputError` instead of failing later with a traceback.
"""

from __future__ import annotations

from ponder.core.errors import InvalidInputError


def check_text(text: str, what: str) -> str:
    """Return ``text`` unchanged if it encodes as UTF-8; else raise naming ``what`` and the position."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        char = text[exc.start]
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:
            detail = f"an undecodable byte 0x{code - 0xDC00:02x}"
        else:
            detail = f"a lone surrogate U+{code:04X}"
        raise InvalidInputError(
            f"{what} is not valid UTF-8 text: {detail} at character {exc.start}; send UTF-8 text"
        ) from None
    return text

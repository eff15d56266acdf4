"""Text from the database or a spec, made safe to show on a terminal.

A request, a summary or a spec is data someone else may have written. Printed raw,
an escape sequence in it can set the window title, clear the screen or hide text;
a bidi override can make a line read differently from what it holds; a `[/]` in it
is Rich markup that crashes a table. `printable` shows every such character as a
visible escape (`\\x1b`, `\\u202e`); `cell` is the same as a Rich `Text`, which is
never parsed as markup.
"""

from __future__ import annotations

import re

# C0 controls except tab and newline, DEL, C1 controls, and the bidi embeddings,
# overrides and isolates (U+202A-U+202E, U+2066-U+2069).
UNSAFE_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _visible(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with every terminal control character shown as a visible escape."""
    return UNSAFE_RE.sub(_visible, text) if UNSAFE_RE.search(text) else text


def cell(text: object):
    """A Rich table cell for a value: controls made visible, never read as markup."""
    from rich.text import Text

    return Text(printable("" if text is None else str(text)))

"""Text made safe for a terminal: what a file name (or any text from outside) would make a terminal do is shown
escaped instead, so a photo named ``a<ESC>[31m.jpg`` cannot colour the screen, set its title or split its log line.

The one function every terminal printer uses is :func:`terminal_safe`; the CLI applies it to each line it prints
(``cli.console.say``), so no call site can forget it. Data files (report.csv, the review log) keep the real
names: this is for display only.
"""

from __future__ import annotations

import re

# C0 controls (newline, carriage return and tab included), DEL, C1 controls, and the bidi controls that reorder
# what follows them on screen: the embeddings and overrides U+202A-202E, the isolates U+2066-2069, and the marks
# U+061C, U+200E, U+200F
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(m: re.Match) -> str:
    c = m.group()
    if c in _NAMED:
        return _NAMED[c]
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: object) -> str:
    """``text`` as one line a terminal only displays: each control character (C0, DEL, C1) and bidi control is
    replaced by its escape (``\\x1b``, ``\\n``, ``\\r``, ``\\x07``, ``\\u202e``); everything else is unchanged,
    so a plain line comes back as it went in."""
    s = str(text)
    return _UNSAFE.sub(_escaped, s) if _UNSAFE.search(s) else s

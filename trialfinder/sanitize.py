"""The one sanitiser for text leaving the program: whatever came over the network (registry text,
API error bodies, the ``/version`` answer) reaches a terminal, a spreadsheet or a page only as inert
text.

* :func:`one_line` — for a line we print (a title, a message, a warning): terminal escape sequences
  and control characters are removed, line breaks and tabs become spaces.
* :func:`block` — for text whose lines matter (a summary, a whole ``show`` page, a CSV or JSON
  export): the same, but ``\\n`` and tab are kept (``\\r\\n`` and a lone ``\\r`` become ``\\n``).

Removed: whole escape sequences (CSI ``ESC [ … final``, OSC/DCS/APC/PM/SOS ``ESC ] … BEL or ST``,
two-byte ``ESC x``, and their 8-bit forms), then every remaining C0 control, DEL and C1 control.
What is left cannot move the cursor, retitle a window, hide text or make a link in a terminal, and
contains no character an .xlsx file refuses. Rich markup is a separate matter: the terminal table
hands Rich ``Text`` objects, which Rich never parses as markup.

A leaf module (it imports nothing of TrialFinder's), like ``errors`` and ``labels``: every stage may
use it.
"""

from __future__ import annotations

import re

_SEQUENCE = re.compile(
    r"""
      (?:\x1b\[|\x9b) [0-?]* [ -/]* [@-~]                          # CSI: colours, cursor moves, clear screen
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]) [^\x07\x1b\x9c]*     # OSC, DCS, SOS, PM, APC: window titles,
      (?:\x07|\x1b\\|\x9c)?                                         #   links, ... up to BEL or ST (or the end)
    | \x1b [ -/]* [0-~]                                             # any other escape sequence
    """,
    re.VERBOSE,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 but tab and newline, DEL, C1
_UNSAFE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # anything one_line() would change


def block(text: object) -> str:
    """``text`` as inert text, line breaks and tabs kept (``\\r\\n`` and ``\\r`` become ``\\n``)."""
    value = str(text)
    if not _CONTROL.search(value):  # the common case: nothing to do
        return value
    value = _SEQUENCE.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))
    return _CONTROL.sub("", value)


def one_line(text: object) -> str:
    """``text`` as one inert line: escape sequences and controls removed, line breaks and tabs as spaces."""
    value = str(text)
    if not _UNSAFE_LINE.search(value):
        return value
    value = _SEQUENCE.sub("", value)
    value = re.sub(r"[\t\n\r\v\f]+", " ", value)
    return _CONTROL.sub("", value)

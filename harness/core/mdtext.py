"""User text in Markdown: names escaped in prose and tables, literal inside code spans (no ``fd\\_digits``)."""

from __future__ import annotations

from typing import Any

__all__ = ["md_code", "md_escape"]


def md_escape(text: Any) -> str:
    """Card and variant names are user input: neutralise Markdown/HTML metacharacters."""
    s = str(text)
    for ch, rep in (
        ("\\", "\\\\"),  # first: a backslash in a name must not escape what follows it
        ("&", "&amp;"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ("|", "\\|"),
        ("`", "\\`"),
        ("*", "\\*"),
        ("_", "\\_"),
        ("[", "\\["),
        ("]", "\\]"),
    ):
        s = s.replace(ch, rep)
    return s.replace("\n", " ")


def md_code(text: Any, *, table: bool = False) -> str:
    """``text`` as an inline code span, shown literally: nothing is backslash-escaped inside (a code span
    would print the backslashes). A backtick in the text gets a fence one backtick longer than its longest
    run, padded with a space where the text starts or ends with a backtick; in a table cell
    (``table=True``) a pipe is written as a backslash and a pipe, which GFM tables turn back into a pipe,
    also inside code. Text holding ``<`` or ``>`` (the report carries no raw HTML, even where a renderer
    would show it literally) or nothing but spaces is wrapped in ``<code>`` around :func:`md_escape`'d text
    instead, where escapes and entities work."""
    s = str(text).replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    if not s.strip() or "<" in s or ">" in s:
        return f"<code>{md_escape(s)}</code>"
    run = longest = 0
    for ch in s:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if s[0] == "`" or s[-1] == "`" or (s[0] == " " and s[-1] == " ") else ""
    if table:
        s = s.replace("|", "\\|")
    return f"{fence}{pad}{s}{pad}{fence}"

"""Labels are data: each output format gets them escaped its own way.

A label comes from a user's file and may hold anything a file can: control characters, a
carriage return, ANSI escape sequences, U+2028, lone surrogates (from a JSON ``\\ud800``
escape), matplotlib's mathtext ``$``, Markdown or HTML markup. These helpers turn such text
into something each output shows literally and cannot be steered by:

- :func:`visible` — a terminal line or a log message: every control and invisible
  formatting character becomes a visible escape (``\\x1b``, ``\\u2028``), so an ANSI
  sequence cannot recolour or rewrite the terminal and a line break cannot fake a line;
- :func:`terminal_text` — an error message of several lines: the same, line by line;
- :func:`chart_label` — text handed to matplotlib (tick labels, titles, legends):
  :func:`visible`, plus ``$`` escaped so it is never parsed as mathtext (a label such as
  ``$\\nope$`` made chart rendering raise);
- :func:`xml_text` — text for an XML document (JUnit, SVG): the characters XML 1.0 cannot
  hold become visible escapes (ElementTree escapes ``<``/``&`` but writes control
  characters raw, which makes the file unparseable);
- :func:`markdown_text` / :func:`markdown_code` — one table cell or line of a Markdown
  summary: one line, HTML and Markdown markup escaped, and nothing the CI page would turn
  into a link, a mention or an issue reference (see :func:`markdown_text`).

The HTML report is escaped by jinja2's autoescape and needs nothing here.
"""

from __future__ import annotations

import html
import re
import unicodedata

# Bidirectional overrides and isolates: they reorder how a terminal or page shows the text
# around them ("Trojan Source"), so they are shown as escapes too.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp", "Co", "Cn"})


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def is_hidden(ch: str) -> bool:
    """True for a character that does not show as itself: controls, line/paragraph separators,
    surrogates, private-use and unassigned code points, bidirectional controls."""
    return ch in _BIDI or unicodedata.category(ch) in _HIDDEN_CATEGORIES


def hidden_characters(text: str) -> list[str]:
    """The distinct hidden characters of ``text``, as escapes (``['\\\\x1b', '\\\\u2028']``)."""
    return list(dict.fromkeys(_escape(ch) for ch in text if is_hidden(ch)))


def visible(text: object) -> str:
    """``text`` with every hidden character written as a visible escape (one line, inert)."""
    value = str(text)
    if all(ch.isprintable() and ch not in _BIDI for ch in value):
        return value
    return "".join(_escape(ch) if is_hidden(ch) else ch for ch in value)


def terminal_text(text: object) -> str:
    """Several lines for a terminal: each line :func:`visible`, the line breaks kept."""
    return "\n".join(visible(line) for line in str(text).split("\n"))


def chart_label(text: object) -> str:
    """Text for matplotlib: visible, and ``$`` escaped so mathtext never parses it."""
    return visible(text).replace("$", r"\$")


# XML 1.0 Char production: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
_XML_INVALID = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: object) -> str:
    """``text`` with every character XML 1.0 cannot hold written as a visible escape."""
    return _XML_INVALID.sub(lambda m: _escape(m.group()), str(text))


_LINE_BREAKS = re.compile("[\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029]+")
# ASCII punctuation CommonMark gives a meaning to inside a line (backslash-escapable).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]{}()#+!|~])")


def _one_line(text: object) -> str:
    return visible(_LINE_BREAKS.sub(" ", str(text)))


# Where a CI page would make a link, a notification or a cross-reference out of plain text,
# after Markdown is rendered (so a backslash or an HTML entity does not stop it: GitHub runs its
# mention and reference filters on the rendered text, github/markup#1168, github/cmark-gfm#181):
# right after "@" (GitHub/GitLab @mentions, e-mail autolinks), "#" and "GH-" (issues, owner/repo#1),
# GitLab's "!" (merge requests), "~" (labels), "%" (milestones), "&" (epics) and "$" (snippets)
# when a word follows; after a colon between a letter and a word or "/" (scheme autolinks such
# as http://, also written <...>, and mailto:, xmpp:); between two slashes (protocol-relative
# //host); after a "." followed by a letter ("www." autolinks and bare domains, which some
# renderers link).
_LINK_TRIGGER = re.compile(r"(?<=[@#!~%&$])(?=\w)|(?<=\b[Gg][Hh]-)(?=\d)|(?<=[^\W\d_]:)(?=[\w/])|(?<=/)(?=/)|(?<=\.)(?=[^\W\d_])")
# A word of 7 to 40 hex digits with at least one letter: GitHub links it to the commit it
# abbreviates when the repository has one. Words of digits only are left alone (they are how
# counts print, and a commit whose abbreviation is all digits is rarely written so).
_COMMIT_LIKE = re.compile(r"\b(?=[0-9]*[a-fA-F])[0-9a-fA-F]{7,40}\b")
#: ZERO WIDTH SPACE: invisible, and not a word character, so none of the patterns above matches
#: across it (the workaround GitHub's own issue tracker documents for mentions).
LINK_BREAK = "\u200b"


def markdown_text(text: object) -> str:
    """One line of Markdown prose that renders as ``text``: line breaks become spaces, HTML is
    entity-escaped, Markdown punctuation backslash-escaped, and an invisible zero-width
    space is put where GitHub or GitLab would otherwise ping a user (``@name``), link an issue
    or merge request (``#12``, ``!12``), a URL (``http://…``, ``<http://…>``, ``www.…``) or a
    commit (``deadbeef``: a break every 6 hex digits, shorter than any abbreviation)."""
    unlinked = _LINK_TRIGGER.sub(LINK_BREAK, _one_line(text))
    unlinked = _COMMIT_LIKE.sub(lambda m: LINK_BREAK.join(re.findall(".{1,6}", m.group())), unlinked)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(unlinked, quote=False))


def markdown_code(text: object) -> str:
    """``text`` as inline code that no backtick or pipe inside it can end early."""
    return "<code>" + html.escape(_one_line(text), quote=True).replace("|", "&#124;") + "</code>"

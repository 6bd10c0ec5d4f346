"""Reading a model's answer: the liked and disliked feature lists out of free text.

The VPE adapter answers in the method's exact format ("Liked Art Features: a, b ... Disliked Art
Features: c, d"); chat models answer in many near variants (markdown, bullets, "Likes:" headers,
explanations, prose around the lists). `parse_features` reads them all the same way, for both model
backends. Pure string work: no model, no I/O.
"""

from __future__ import annotations

import re

MAX_FEATURE_WORDS = 8
MAX_FEATURES = 100

# The method's own headers, found anywhere ("... Disliked Art Features: ..." on one line, as VPE
# writes them), and the looser headers chat models write at the start of a line ("**Dislikes:**",
# "### Liked features", "2. Negative features:").
_EXACT_HEADER = re.compile(r"\b(dis)?liked\s+art\s+features\b[ \t*_`]*[:：]?", re.IGNORECASE)
_LINE_HEADER = re.compile(
    r"^[ \t>#*_\-•·]*(?:\d+[.)][ \t]*)?[*_`]*[ \t]*"
    r"(?P<word>(?:dis)?liked(?:[ \t]+(?:art[ \t]+)?features)?|(?:dis)?likes|positive(?:[ \t]+features)?"
    r"|negative(?:[ \t]+features)?|what[ \t]+(?:they|the[ \t]+(?:person|member|user))[ \t]+(?:dis)?likes?)"
    r"[ \t]*[*_`]*[ \t]*(?:[:：][ \t]*[*_`]*|$)",
    re.IGNORECASE | re.MULTILINE,
)
# "The person likes: a, b. They dislike: c." in running text.
_INLINE_HEADER = re.compile(
    r"\b(?:the\s+(?:person|member|user)|they|he|she)\s+(dis)?likes?\s*[:：]", re.IGNORECASE
)
_BULLET = re.compile(r"^(?:[-*•·+>]+|\d+[.)]|[a-z][.)](?=\s))\s*", re.IGNORECASE)
_MARKDOWN = re.compile(r"(\*\*|__|`+|~~)")
_EXPLANATION = re.compile(r"\s+(?:[-–—]|:)\s+.*$|\s*\(.*?\)\s*|\s*\[.*?\]\s*")
_NOTHING = {"none", "n/a", "na", "nothing", "nothing specific", "none mentioned", "not specified", "none noted", "-", "—"}
_PROSE_START = re.compile(
    r"^(?:here|these|this|that|note|overall|based|in summary|to summarize|let me|hope|i |i'|the person|"
    r"the member|the user|they |it seems|from the|sure|certainly|okay|as an)",
    re.IGNORECASE,
)


def parse_features(text: str | None) -> tuple[list[str], list[str]]:
    """Split a model's answer into (liked, disliked) feature lists.

    Reads the method's exact format ("Liked Art Features: a, b ... Disliked Art Features: c, d") and
    what chat models make of it: the two lists in either order, markdown (bold, headings), bullets
    or numbering, one feature per line, "Likes:"/"Dislikes:" headers, explanations after a dash or
    in brackets, "None", a prompt echoed before the answer, and prose around the lists. Items are
    de-duplicated ignoring case, sentence-like items are dropped, and a feature found in both lists
    is dropped from both, as in the method.
    """
    if not text or not isinstance(text, str):
        return [], []
    if "Assistant:" in text:
        text = text.rsplit("Assistant:", 1)[1]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    headers = sorted(_headers(text), key=lambda h: h[0])
    if not headers:
        return [], []
    lists: dict[int, dict[str, str]] = {1: {}, -1: {}}
    for index, (_start, end, polarity) in enumerate(headers):
        stop = headers[index + 1][0] if index + 1 < len(headers) else len(text)
        for item in _section_items(text[end:stop]):
            if len(lists[polarity]) < MAX_FEATURES:
                lists[polarity].setdefault(item.casefold(), item)
    both = lists[1].keys() & lists[-1].keys()
    return (
        [v for k, v in lists[1].items() if k not in both],
        [v for k, v in lists[-1].items() if k not in both],
    )


def _headers(text: str) -> list[tuple[int, int, int]]:
    """(start, end, polarity) of every list header; a line header inside an exact one is the same."""
    found = [(m.start(), m.end(), -1 if m.group(1) else 1) for m in _EXACT_HEADER.finditer(text)]
    for m in _INLINE_HEADER.finditer(text):
        if not any(start <= m.start() < end or m.start() <= start < m.end() for start, end, _ in found):
            found.append((m.start(), m.end(), -1 if m.group(1) else 1))
    for m in _LINE_HEADER.finditer(text):
        word = m.group("word").lower()
        if any(start <= m.start("word") < end or m.start("word") <= start < m.end() for start, end, _ in found):
            continue
        polarity = -1 if word.startswith(("dis", "negative")) or "dislike" in word else 1
        found.append((m.start(), m.end(), polarity))
    return found


def _section_items(section: str) -> list[str]:
    """The features listed in one section, stopping at prose that follows the list."""
    items: list[str] = []
    blank_seen = False
    for raw_line in section.split("\n"):
        line = _MARKDOWN.sub("", raw_line).strip().lstrip("#").strip()
        if not line:
            blank_seen = bool(items) or blank_seen
            continue
        bulleted = bool(_BULLET.match(line))
        line = _BULLET.sub("", line).strip()
        words = line.split()
        prose = bool(_PROSE_START.match(line)) or (line.endswith((".", "!", "?")) and len(words) > 6 and "," not in line)
        if prose and not bulleted:
            if items:
                break  # "Let me know if ..." after the list: the list is over
            continue
        if blank_seen and items and not bulleted and "," not in line and len(words) > 3:
            break
        for piece in re.split(r"[,;\n]+|\s+/\s+", line):
            item = _clean_item(piece)
            if item:
                items.append(item)
    return items


def _clean_item(piece: str) -> str:
    item = _EXPLANATION.sub("", piece.strip()).strip()
    item = item.strip(" \t.\"'`*_:;!?“”‘’")
    item = re.sub(r"^(?:and|or|&)\s+", "", item, flags=re.IGNORECASE)
    item = " ".join(item.split())
    if not item or item.casefold() in _NOTHING or len(item.split()) > MAX_FEATURE_WORDS:
        return ""
    return item

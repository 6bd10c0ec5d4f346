"""Moderation of text: `[moderation] blocked_terms` match whole words in any case ("class" does not
hit "ass"), `blocked_patterns` are regular expressions; a server's admins add terms of their own.
Pure functions; `CoreBase.moderate` applies them and records the refusal."""

from __future__ import annotations

import functools
import re

from viper.contracts.errors import InvalidArgument


class Refused(InvalidArgument):
    """A request a rule refused: `rule` names the rule for admins' stats (never shown to members)."""

    def __init__(self, message: str, *, rule: str, detail: str = "", argument: str = "rules"):
        super().__init__(message, argument=argument)
        self.rule, self.detail = rule, detail


@functools.lru_cache(maxsize=256)
def term_pattern(term: str) -> re.Pattern:
    """A blocked term as a whole-word, case-insensitive pattern ("class" does not hit "ass")."""
    words = r"\s+".join(re.escape(word) for word in term.split())
    return re.compile(rf"(?<!\w){words}(?!\w)", re.IGNORECASE)


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def first_hit(text: str, terms: list[str], patterns: list[str]) -> tuple[str, str] | None:
    """("term" | "pattern", which) for the first rule `text` breaks, or None."""
    for term in terms:
        if term.strip() and term_pattern(term.strip()).search(text):
            return "term", term
    for pattern in patterns:
        if _compiled(pattern).search(text):
            return "pattern", pattern
    return None

"""The lexicon's view of text: one spelling per word, tokens, phrases, and the typos it forgives.

Step 1 of reading a comment (see `engine.lexicon`): lower case, accents removed, British spellings
and hyphens folded, French elisions split ("l'aquarelle"), chat forms read ("texture's" is "texture
is", "pink n blue", "X > Y" is "X over Y", a year is its decade). The vocabulary is compiled with
the same functions, so a phrase in the tables and a phrase in a comment meet in one form. Pure
string work, no tables beyond the few word lists here.
"""

from __future__ import annotations

import re
import unicodedata

# A word token (letters, digits, an apostrophe), as opposed to punctuation and emoji.
WORD = re.compile(r"^[a-z0-9']+$")


_BRITISH = [
    (re.compile(r"colour"), "color"),
    (re.compile(r"\bgrey"), "gray"),
    (re.compile(r"\bcentre"), "center"),
    (re.compile(r"\bfavour"), "favor"),
    (re.compile(r"\bneighbour"), "neighbor"),
    (re.compile(r"\b(styl|stylis|minimalis|satur|desatur|mesmeris)is(e|ed|ation)\b"), r"\1iz\2"),
]
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")
# French elided articles and pronouns glued to the next word: l'aquarelle, j'adore, n'aime, d'automne.
_ELISION = re.compile(r"^(l|d|j|n|m|t|s|c|qu)'([a-z]{2,})$")
_ENGLISH_SUFFIXES = ("t", "s", "re", "ve", "ll", "d", "m")


def _normalise(text: str) -> str:
    """Lower case, no accents, American spelling, hyphens and '&' as words: one spelling per word."""
    text = text.replace("ß", "ss").replace("ẞ", "ss")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.lower().replace("’", "'").replace("‘", "'").replace("`", "'").replace("ʼ", "'")
    for pattern, replacement in _BRITISH:
        text = pattern.sub(replacement, text)
    text = re.sub(r"(?<=\w)-(?=\w)", " ", text)
    text = text.replace("&", " and ")
    text = re.sub(r"(?<=[a-z]{2})/(?=[a-z]{2})", " and ", text)  # "black/white", "indigo/peach" (not "/s")
    return text


_TO_AS_TOO_AFTER = {"is", "are", "was", "were", "it's", "its", "way", "far", "bit", "much", "just", "so", "kinda", "little"}
_TO_AS_TO_BEFORE = {
    "be", "go", "see", "me", "do", "the", "a", "an", "have", "get", "make", "look", "say", "my", "your",
    "his", "her", "their", "its", "it", "this", "that", "them", "us", "you", "all", "create", "show",
}


_YEAR = re.compile(r"^19([2-9])\d$")
# "it's", "that's": kept whole (the tables know them); "texture's nice", "marbling's lovely": split.
_S_KEPT = {"it", "that", "what", "let", "there", "here", "who", "he", "she", "where", "how", "one", "this"}


def tokenize(text: str) -> list[str]:
    out: list[str] = []
    raw = _TOKEN.findall(_normalise(text.replace("<3", " ❤ ")))
    for index, token in enumerate(raw):
        match = _ELISION.match(token)
        if match and match.group(2) not in _ENGLISH_SUFFIXES:
            out.extend(match.groups())
        elif token.endswith("'s") and len(token) > 4 and token[:-2].isalpha() and token[:-2] not in _S_KEPT:
            out.extend((token[:-2], "is"))
        elif _YEAR.match(token):
            out.append(f"19{_YEAR.match(token).group(1)}0s")  # "very 1974": the seventies
        elif token == "n" and out and index + 1 < len(raw):
            out.append("and")  # "pink n blue": chat's "and" (French "n'" arrives glued: "n'aime")
        elif token == ">" and out and index + 1 < len(raw) and raw[index + 1] not in (">", "="):
            out.append("over")  # "cartoony > realistic": the left side wins
        elif token == ">":
            continue  # ">>>" reads as one ">", taken at its last character
        elif token == "pas" and any(t in ("ne", "n") for t in out[-3:]):
            continue  # French "ne ... pas": the "ne" already negates
        elif token == "to" and _to_means_too(out, raw[index + 1] if index + 1 < len(raw) else ""):
            out.append("too")  # "to busy", "neon is to bright": the commonest typo in comments
        else:
            out.append(token)
    return out


def _to_means_too(before: list[str], after: str) -> bool:
    if after in ("much", "many"):
        return True
    if not after.isalpha() or after in _TO_AS_TO_BEFORE:
        return False
    previous = before[-1] if before else ""
    return previous in _TO_AS_TOO_AFTER or previous == "" or not (previous.isalnum() or "'" in previous)


def normalise_phrase(text: str) -> str:
    """A phrase as the lexicon compares it: "Teal-Blue " -> "teal blue", "colours" -> "colors"."""
    return " ".join(t for t in tokenize(text) if t.isalnum() or "'" in t)


MIN_TYPO_LENGTH = 6


def typo_deletions(word: str) -> set[str]:
    """Every spelling of `word` with one letter left out."""
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


_VOWELS = set("aeiouy")


def is_typo(typed: str, word: str) -> bool:
    """One missing or extra letter, one swap of neighbours, or one vowel written for another."""
    if typed[0] != word[0]:
        return False
    if len(word) == len(typed) + 1:
        return typed in typo_deletions(word)
    if len(word) == len(typed) - 1:
        return word in typo_deletions(typed)
    if len(word) != len(typed):
        return False
    diff = [i for i, (a, b) in enumerate(zip(typed, word)) if a != b]
    if len(diff) == 2 and diff[1] == diff[0] + 1:
        return typed[diff[0]] == word[diff[1]] and typed[diff[1]] == word[diff[0]]
    return len(diff) == 1 and typed[diff[0]] in _VOWELS and word[diff[0]] in _VOWELS


def plural_of(word: str) -> str | None:
    """The regular English plural of a phrase's last word, or None where it has none to add."""
    if not word.isalpha() or word.endswith("s") or len(word) < 3:
        return None
    if word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("sh", "ch", "x", "z")):
        return word + "es"
    return word + "s"


def split_phrases(block: str) -> list[str]:
    """The phrases of a table block: comma- or line-separated, blanks dropped."""
    return [p.strip() for p in block.replace("\n", ",").split(",") if p.strip()]

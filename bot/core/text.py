"""What the core accepts as text from a member: visible characters only.

Format and control characters (zero-width joiners, bidi marks, NULs...) are invisible in a chat but
would reach the profile, the prompt and the logs; they are dropped before a text is checked for
emptiness, so a "feature" made of nothing but `\\u200d` is refused like an empty one.
"""

from __future__ import annotations

import unicodedata

# Cc: control, Cf: format (zero-width, bidi), Cs: surrogates, Co: private use, Cn: unassigned.
INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn"}


def visible(text: str | None, *, keep_newlines: bool = False) -> str:
    """`text` without invisible characters (newlines and tabs kept when asked), stripped."""
    kept = []
    for char in text or "":
        if keep_newlines and char in "\n\t":
            kept.append(char)
        elif unicodedata.category(char) not in INVISIBLE:
            kept.append(char)
    return "".join(kept).strip()

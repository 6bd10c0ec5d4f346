"""Share codes (`vp-7KQ2MX9A`) and link codes: random, readable aloud, forgiving when typed.

Both are 8 symbols of Crockford's base32 (digits and capitals without I, L, O and U): 40 random bits
from `secrets`, so guessing one takes about half a trillion tries, and lookups are rate limited on
top (`bot.core.people`). Reading a code forgives case and the letters people confuse with digits
(O for 0, I and L for 1).
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 8  # 8 symbols x 5 bits = 40 random bits
SHARE_PREFIX = "vp-"
SHARE_CODE = re.compile(rf"vp-[{ALPHABET}]{{{LENGTH}}}")
LINK_CODE = re.compile(rf"[{ALPHABET}]{{{LENGTH}}}")
_CONFUSED = str.maketrans({"O": "0", "I": "1", "L": "1"})


def random_symbols() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def new_share_code() -> str:
    return SHARE_PREFIX + random_symbols()


def read_share_code(text: str) -> str | None:
    """`text` as a share code in its canonical form (`VP-7kq2mx9a` -> `vp-7KQ2MX9A`), or None."""
    text = text.strip()
    if text[:3].lower() != SHARE_PREFIX:
        return None
    code = SHARE_PREFIX + text[3:].upper().translate(_CONFUSED)
    return code if SHARE_CODE.fullmatch(code) else None


def read_link_code(text: str) -> str | None:
    code = text.strip().upper().translate(_CONFUSED).replace("-", "").replace(" ", "")
    return code if LINK_CODE.fullmatch(code) else None

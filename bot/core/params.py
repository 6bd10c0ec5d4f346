"""The parameters of an /imagine: one parser and one validator for Telegram, Discord and `viper imagine`.

Telegram members type the parameters as flags after the prompt, and `parse_imagine` reads them:

    a lighthouse at dusk --ar 16:9 --seed 7 --strength 1.5 --no text, watermark --steps 30

Discord members fill typed options and the CLI has argparse flags; both build an `ImagineParams`
and pass it to `check_params`, the same range checks `parse_imagine` ends with.

The rule for what is a flag:

- A flag is `--name` standing at the start of the text or right after whitespace (a space, a
  newline), where `name` starts with a letter and runs to the next whitespace or `=`. Phone
  keyboards turn `--` into a long dash, so `—name` (em dash) and `–name` (en dash) are flags too.
  Names are case-insensitive (`--AR` is `--ar`).
- Anything else is prompt text: `--` inside a word (`state--of--the--art`), `--` or a dash not
  followed by a letter (`a cat -- sleeping`, `1990 – 2000`, `--7`), a lone `-`.
- A `--word` after whitespace that is not one of the flags below is refused (the member meant a
  flag and mistyped it, and a prompt holding it would paint the flag's text), even with a long dash.
- The prompt is the text before the first flag. A flag's value is the text from the flag to the next
  flag, stripped (`--ar=16:9` is `--ar 16:9`), so `--no` may hold commas and spaces. Every flag
  except `--no` takes one word: `--seed 7 a cat` is refused, with a hint that the prompt comes first.

Every error is an `InvalidArgument` whose `argument` is the flag's name without dashes (the unknown
name, cut short, for an unknown flag; `prompt` for an empty prompt), and whose message names the
flag and what it accepts; it is written to be shown as "Sorry, <message>." and quotes at most
`QUOTE_LIMIT` characters of what the member typed.

To add a flag: add its field to `ImagineParams` and a `Flag` with the same name to `FLAGS`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.core.codes import read_share_code
from bot.core.text import visible
from viper.contracts.errors import InvalidArgument
from viper.contracts.jobs import ASPECT_RATIOS

MAX_SEED = 2**32 - 1
"""The largest seed a member may name (the CLI allows the engine's whole 64-bit range)."""
MAX_STRENGTH = 2.0
"""The largest personalisation multiplier (1 = the configured strengths, 0 = personalisation off)."""
QUOTE_LIMIT = 40
"""At most this many characters of a member's text are quoted back in an error."""


@dataclass
class ImagineParams:
    """What an /imagine asks for besides the member's profile. None: the worker's default."""

    prompt: str
    ar: str | None = None  # one of ASPECT_RATIOS
    seed: int | None = None  # 0 .. MAX_SEED
    strength: float | None = None  # 0 .. MAX_STRENGTH: multiplies the configured liked/disliked strengths
    no: str = ""  # a negative prompt: it joins the disliked side
    steps: int | None = None  # 1 .. the engine's max_steps
    profiles: list[str] = field(default_factory=list)  # `--p`: share codes (and `me`) whose profiles blend


@dataclass(frozen=True)
class Flag:
    """One flag: `name` (without dashes) is also the `ImagineParams` field it fills."""

    name: str
    convert: Callable[[str], Any]
    """The typed value from the flag's text; raises ValueError when the text is of the wrong kind."""
    valid: Callable[[Any, int], bool]
    """Whether a typed value (from any platform) is acceptable, given the engine's max_steps."""
    accepts: str
    """What the flag accepts, finishing "--name takes ..."; `{max_steps}` is filled in."""
    one_word: bool = True
    """False: the value is free text up to the next flag (it may hold spaces and commas)."""
    field: str = ""
    """The `ImagineParams` field it fills, when that is not `name` (`--p` fills `profiles`)."""

    @property
    def target(self) -> str:
        return self.field or self.name

    def describe(self, max_steps: int) -> str:
        return self.accepts.format(max_steps=max_steps)


MAX_PROFILES = 4
"""The most profiles one image may blend (`--p`)."""


def _profiles(text: str) -> list[str]:
    """`--p` words as share codes in canonical form (`me` stays `me`); ValueError on anything else."""
    found = []
    for word in text.replace(",", " ").split():
        code = "me" if word.lower() == "me" else read_share_code(word)
        if code is None:
            raise ValueError(word)
        found.append(code)
    return found


def _valid_profiles(value: Any) -> bool:
    return (isinstance(value, list) and 0 < len(value) <= MAX_PROFILES and len(set(value)) == len(value)
            and all(v == "me" or read_share_code(v) == v for v in value))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _words(text: str | None) -> str:
    """Visible text with every run of whitespace (newlines too) made one space."""
    return " ".join(visible(text, keep_newlines=True).split())


def _list(items: tuple[str, ...], last: str = "or") -> str:
    return ", ".join(items[:-1]) + f" {last} {items[-1]}" if len(items) > 1 else "".join(items)


FLAGS: dict[str, Flag] = {
    flag.name: flag
    for flag in (
        Flag("ar", str, lambda v, _: v in ASPECT_RATIOS,
             f"an aspect ratio written width:height, one of {_list(ASPECT_RATIOS)}"),
        Flag("seed", int, lambda v, _: _is_int(v) and 0 <= v <= MAX_SEED,
             f"a whole number from 0 to {MAX_SEED}"),
        Flag("strength", float, lambda v, _: _is_number(v) and 0 <= v <= MAX_STRENGTH,
             f"a number from 0 to {MAX_STRENGTH:g} (1 = the usual personalisation, 0 = none)"),
        Flag("no", str, lambda v, _: isinstance(v, str),
             "what to keep out of the image, such as --no text, watermark", one_word=False),
        Flag("steps", int, lambda v, max_steps: _is_int(v) and 1 <= v <= max_steps,
             "a whole number of steps from 1 to {max_steps}"),
        Flag("p", _profiles, lambda v, _: _valid_profiles(v),
             f"1 to {MAX_PROFILES} share codes such as vp-7KQ2MX9A, or me for your own profile, separated by spaces",
             one_word=False, field="profiles"),
    )
}

# The start of the text or whitespace, two hyphens or one long dash, a letter: a flag.
_FLAG = re.compile(r"(?:^|(?<=\s))(?:--|[\u2014\u2013])([A-Za-z][^\s=]*)=?")


def _quote(text: str, limit: int = QUOTE_LIMIT) -> str:
    text = _words(text)
    return "“" + (text if len(text) <= limit else text[: limit - 1] + "…") + "”"


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _refused(flag: Flag, got: str, max_steps: int, hint: str = "") -> InvalidArgument:
    return InvalidArgument(f"--{flag.name} takes {flag.describe(max_steps)}, not {_quote(got)}{hint}",
                           argument=flag.name)


def _unknown(name: str) -> InvalidArgument:
    cut = name if len(name) <= 20 else name[:19] + "…"
    close = difflib.get_close_matches(name.lower(), FLAGS, n=1)
    guess = f" (did you mean --{close[0]}?)" if close else ""
    known = _list(tuple(f"--{n}" for n in FLAGS), "and")
    return InvalidArgument(f"I don't know the flag --{cut}{guess}; the flags are {known}, written after the prompt",
                           argument=cut)


def parse_imagine(text: str, *, max_steps: int) -> ImagineParams:
    """The prompt and flags of an /imagine typed as text (see the module's rule), checked.

    Raises InvalidArgument for an unknown flag, a flag given twice, a missing value, a value of the
    wrong kind or out of range, or an empty prompt.
    """
    text = text or ""
    found = list(_FLAG.finditer(text))
    values: dict[str, Any] = {}
    for i, match in enumerate(found):
        name = match.group(1).lower()
        flag = FLAGS.get(name)
        if flag is None:
            raise _unknown(match.group(1))
        if flag.target in values:
            raise InvalidArgument(f"--{name} is given twice; give it once, with {flag.describe(max_steps)}",
                                  argument=name)
        end = found[i + 1].start() if i + 1 < len(found) else len(text)
        raw = _words(text[match.end():end])
        if not raw:
            raise InvalidArgument(f"--{name} needs a value after it: {flag.describe(max_steps)}", argument=name)
        if flag.one_word and len(raw.split()) > 1:
            raise _refused(flag, raw, max_steps, "; write the prompt first and the flags after it")
        try:
            value = flag.convert(raw)
        except ValueError:
            raise _refused(flag, raw, max_steps) from None
        if not flag.valid(value, max_steps):
            raise _refused(flag, raw, max_steps)
        values[flag.target] = value
    prompt = text[: found[0].start()] if found else text
    return check_params(ImagineParams(prompt=prompt.strip(), **values), max_steps=max_steps)


def check_params(params: ImagineParams, *, max_steps: int) -> ImagineParams:
    """Refuse an empty prompt and any value out of range; returns the parameters with `no`'s
    whitespace made single spaces. Shared by the text flags, Discord's typed options and the CLI."""
    if not visible(params.prompt):
        raise InvalidArgument("the prompt is empty; say what to draw, then any flags, "
                              "as in “a lighthouse at dusk --ar 16:9”", argument="prompt")
    for flag in FLAGS.values():
        value = getattr(params, flag.target)
        if value is None or (flag.name == "no" and value == "") or (flag.target == "profiles" and value == []):
            continue
        if not flag.valid(value, max_steps):
            raise _refused(flag, _shown(value), max_steps)
    changes: dict[str, Any] = {"no": _words(params.no)}
    if params.strength is not None:
        changes["strength"] = float(params.strength)
    return dataclasses.replace(params, **changes)

"""The question both model backends ask: the method's instruction and a member's comments, made safe.

The VPE adapter learned one fixed instruction (`VPE_INSTRUCTION`, our wording of it); the `openai`
backend sends the same words to a chat model. `build_vpe_messages` turns a member's comments into
one chat turn, each commented image followed by "Comment N: <text>", and `sanitize_comment` keeps a
member's text quoted data: it cannot open a new turn, fake a special token, or pose as the answer's
headers.
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from viper.contracts.jobs import Comment

log = logging.getLogger("engine.extraction")

MAX_COMMENT_CHARS = 600

# Our wording of the instruction the adapter was trained with. The adapter learned one fixed
# instruction, so this keeps its meaning point by point: what it is given, which features to
# look for, that subject matter is out of scope, that vague praise must be made concrete from the
# image, and that the answer is two keyword lists.
VPE_INSTRUCTION = (
    "You will see a set of artworks, each followed by a comment a person wrote about it. Study the "
    "artworks and the comments, and identify artistic features such as the colors that appear or are "
    "mentioned, style, composition, mood, medium, texture, brushwork, lighting, shadow effects, "
    "perspective, and any other notable elements.\n\n"
    "Your job is to find the artistic features this person likes and the ones they dislike, using both "
    "the features of the artworks and what the person says about them. Consider artistic qualities only "
    "and leave the subject matter aside.\n\n"
    "When the person states a preference about an aspect without saying exactly which one (for example, "
    "praising the colors without naming them), name those specific features from the image itself, so "
    "the preference can be understood without seeing the artwork.\n\n"
    "Answer with two short lists of keywords: one with the specific art features the person likes and "
    "one with the specific features they dislike (keywords only, no sentences).\n\n"
    "The images and their comments follow:\n"
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_ROLE_MARKER = re.compile(
    r"\b(comment\s*#?\s*\d+|(?:dis)?liked\s+art\s+features|user|assistant|system|instruction)\s*:", re.IGNORECASE
)


def sanitize_comment(text: Any, max_chars: int = MAX_COMMENT_CHARS) -> str:
    """Make a member's comment safe to place on a "Comment N:" line of the model's prompt.

    The comment must stay data: it is folded onto one line (no fake new turns or lists), angle
    brackets become look-alikes (so "<image>" or "<end_of_utterance>" cannot become special tokens),
    markers the prompt or the answer rely on lose their colon ("Comment 9:", "Assistant:",
    "Liked Art Features:"), and the length is capped.
    """
    if text is None:
        return ""
    text = unicodedata.normalize("NFKC", str(text))
    text = _CONTROL.sub(" ", text)
    text = text.replace("<", "‹").replace(">", "›")
    text = _ROLE_MARKER.sub(lambda m: m.group(1) + " -", text)
    text = " ".join(text.split())
    if len(text) > max_chars:
        cut = text[:max_chars]
        cut = cut[: cut.rfind(" ")] if " " in cut[max_chars // 2 :] else cut
        text = cut.rstrip() + " …"
    return text


def _open_image(path: str | os.PathLike | None, max_side: int = 1024):
    """The comment's image as RGB, or None when it is missing or unreadable (the comment still counts)."""
    if not path:
        return None
    from PIL import Image  # Pillow is a core dependency; imported here to keep module import light

    try:
        with Image.open(path) as image:
            image.draft("RGB", (max_side, max_side))  # JPEGs decode at reduced size directly
            rgb = image.convert("RGB")
        rgb.thumbnail((max_side, max_side))  # the processor shrinks to 448 anyway; save memory
        return rgb
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        log.warning("VPE: cannot open image %s (%s); keeping the comment as text only", path, exc)
        return None


def build_vpe_messages(
    comments: Iterable[Comment] | None, *, max_chars: int = MAX_COMMENT_CHARS
) -> tuple[list[dict], list]:
    """The chat messages and images for one VPE call.

    One user turn: the instruction, then per comment its image (when it opens) followed by
    "Comment N: <text>". N counts the comments kept, in order; empty comments are dropped with
    their image, since an image without a reaction says nothing about taste.
    """
    content: list[dict] = [{"type": "text", "text": VPE_INSTRUCTION}]
    images: list = []
    number = 0
    for comment in comments or []:
        if comment is None:
            continue
        text = sanitize_comment(getattr(comment, "text", None), max_chars)
        if not text:
            continue
        number += 1
        image = _open_image(getattr(comment, "image_path", None))
        if image is not None:
            content.append({"type": "image"})
            images.append(image)
        content.append({"type": "text", "text": f"Comment {number}: {text}"})
    return [{"role": "user", "content": content}], images

"""What the UNet is conditioned on: a plan's prompts and keyword lists, encoded once per request.

`Conditioning` stacks the per-branch inputs (hidden states, pooled embeddings, SDXL time ids) along
the batch axis, so that one request's branches, or several requests' branches, go through the UNet
as the rows of one call. `encode_base` builds them for the SDXL base the way the ViPer reference
does; `encode_refiner` builds the refiner's as `StableDiffusionXLImg2ImgPipeline` does.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import torch

from engine.plan import Plan

# The stock refiner's aesthetic-score conditioning (StableDiffusionXLImg2ImgPipeline defaults).
REFINER_AESTHETIC_SCORE = 6.0
REFINER_NEGATIVE_AESTHETIC_SCORE = 2.5


@dataclass
class Conditioning:
    """UNet conditioning for every branch of one request, stacked along the batch axis.

    Rows are ordered uncond, cond, disliked, liked (or just cond without guidance), so the first two
    rows are exactly the batch the stock pipeline builds.
    """

    hidden_states: torch.Tensor
    text_embeds: torch.Tensor
    time_ids: torch.Tensor

    @property
    def rows(self) -> int:
        return self.hidden_states.shape[0]

    def slice(self, start: int, stop: int) -> Conditioning:
        return Conditioning(self.hidden_states[start:stop], self.text_embeds[start:stop], self.time_ids[start:stop])

    @staticmethod
    def cat(parts: list[Conditioning]) -> Conditioning:
        return Conditioning(
            torch.cat([p.hidden_states for p in parts]),
            torch.cat([p.text_embeds for p in parts]),
            torch.cat([p.time_ids for p in parts]),
        )


class _TruncationWithoutText(logging.Filter):
    """diffusers logs the cut-off tail of a prompt ("...truncated because CLIP can only handle
    sequences up to 77 tokens: [<text>]"); a member's prompt and features must not reach the logs,
    so the record keeps the limit and how many characters were cut, never the words."""

    PATTERN = re.compile(r"truncated because CLIP can only handle sequences up to (\d+) tokens: (.*)", re.S)

    def filter(self, record: logging.LogRecord) -> bool:
        match = self.PATTERN.search(record.getMessage())
        if match:
            record.msg = "a text longer than CLIP's %s tokens was cut (%d characters left out)"
            record.args = (match.group(1), max(0, len(match.group(2)) - 4))  # less the ['...'] around it
        return True


for _name in (
    "diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl",
    "diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl_img2img",
):
    logging.getLogger(_name).addFilter(_TruncationWithoutText())


def prompt_truncated(pipe, prompt: str) -> bool:
    """Whether a text encoder of `pipe` will cut the prompt at its token window (77 for CLIP)."""
    tokenizers = [t for t in (pipe.tokenizer, pipe.tokenizer_2) if t is not None]
    return any(len(t(prompt, verbose=False).input_ids) > t.model_max_length for t in tokenizers)


def encode_base(pipe, device: torch.device, plan: Plan) -> Conditioning:
    """Encode prompt, negative prompt and keyword lists into the UNet's per-branch inputs.

    Both encodes go through the pipeline's own `encode_prompt` (both text encoders), once per
    request: the embeddings then serve every step. The keyword lists are encoded as a prompt
    ("liked") and its negative ("disliked"); an empty list is encoded as the empty string, as
    the reference does, so its branch stays in the mix and the guidance weights keep summing to
    1 + g * (a - b). The pooled embeddings and time ids of every branch are the user's: the
    disliked branch reuses the negative prompt's pooled embedding and the liked branch the
    prompt's, exactly as the reference's second UNet call reuses the first call's added
    conditioning. Without guidance (scale <= 1) only the cond branch exists, so the keywords act
    through the liked embeddings alone; the reference has no such case.
    """
    prompt_embeds, negative_embeds, pooled, negative_pooled = pipe.encode_prompt(
        prompt=plan.prompt,
        device=device,
        num_images_per_prompt=1,
        do_classifier_free_guidance=plan.guided,
        negative_prompt=negative_for_encoder(plan),
    )
    if plan.personalised:
        liked_embeds, disliked_embeds, _, _ = pipe.encode_prompt(
            prompt=", ".join(plan.liked),
            device=device,
            num_images_per_prompt=1,
            do_classifier_free_guidance=plan.guided,
            negative_prompt=", ".join(plan.disliked),
        )
        prompt_embeds = prompt_embeds + plan.liked_strength * liked_embeds
        if plan.guided:
            negative_embeds = negative_embeds + plan.disliked_strength * disliked_embeds

    # SDXL micro-conditioning: original size, crop top-left, target size (no crop, no resize).
    size = (plan.height, plan.width)
    time_ids = torch.tensor([size + (0, 0) + size], dtype=prompt_embeds.dtype).to(device)
    if not plan.guided:
        branches = [(prompt_embeds, pooled)]
    elif not plan.personalised:
        branches = [(negative_embeds, negative_pooled), (prompt_embeds, pooled)]
    else:
        branches = [
            (negative_embeds, negative_pooled),
            (prompt_embeds, pooled),
            (disliked_embeds, negative_pooled),
            (liked_embeds, pooled),
        ]
    return Conditioning(
        hidden_states=torch.cat([hidden for hidden, _ in branches]).to(device),
        text_embeds=torch.cat([pooled_embeds for _, pooled_embeds in branches]).to(device),
        time_ids=time_ids.repeat(len(branches), 1),
    )


def encode_refiner(refiner, device: torch.device, plan: Plan) -> Conditioning:
    """The refiner's inputs, as `StableDiffusionXLImg2ImgPipeline` builds them: the prompt alone
    (no keywords, as in the method) through the refiner's one text encoder, and time ids ending
    in an aesthetic score (6 for the prompt, 2.5 for the negative) when the refiner asks for it."""
    prompt_embeds, negative_embeds, pooled, negative_pooled = refiner.encode_prompt(
        prompt=plan.prompt,
        device=device,
        num_images_per_prompt=1,
        do_classifier_free_guidance=plan.guided,
        negative_prompt=negative_for_encoder(plan),
    )
    size = (plan.height, plan.width)
    if refiner.config.requires_aesthetics_score:
        ids = list(size + (0, 0) + (REFINER_AESTHETIC_SCORE,))
        negative_ids = list(size + (0, 0) + (REFINER_NEGATIVE_AESTHETIC_SCORE,))
    else:
        ids = negative_ids = list(size + (0, 0) + size)
    time_ids = torch.tensor([ids], dtype=prompt_embeds.dtype)
    if plan.guided:
        negative_time_ids = torch.tensor([negative_ids], dtype=prompt_embeds.dtype)
        prompt_embeds = torch.cat([negative_embeds, prompt_embeds])
        pooled = torch.cat([negative_pooled, pooled])
        time_ids = torch.cat([negative_time_ids, time_ids])
    return Conditioning(prompt_embeds.to(device), pooled.to(device), time_ids.to(device))


def negative_for_encoder(plan: Plan) -> str | None:
    """The negative prompt as `encode_prompt` should see it.

    Without personalisation an empty negative prompt is passed as None, exactly as a stock pipeline
    call that names none: SDXL base then uses all-zero negative embeddings
    (`force_zeros_for_empty_prompt`), so our plain images equal stock SDXL's defaults. With
    personalisation the reference encodes the empty string and adds the disliked embeddings to it,
    so we do the same.
    """
    if plan.negative_prompt or plan.personalised:
        return plan.negative_prompt
    return None

"""The ViPer step's arithmetic: how one denoising step mixes its noise predictions, as pure functions.

ViPer (DESIGN.md section 2) guides each step with four predictions of the same latents: `uncond`
(negative prompt + disliked keywords), `cond` (prompt + liked keywords), and `liked` / `disliked`
(the keyword embeddings alone). With g the guidance scale, a the liked strength and b the disliked
strength:

    noise = uncond + g * (cond + a * liked - uncond - b * disliked)

Everything here is arithmetic on tensors and Python numbers: no model, no state, no device sync, so
each function can be checked against numbers worked out by hand (tests/engine/test_guidance.py).
The operation order is the reference code's and the stock pipeline's, since the generation tests
compare results bit for bit.
"""

from __future__ import annotations

import torch


def viper_guidance(
    uncond: torch.Tensor,
    cond: torch.Tensor,
    liked: torch.Tensor,
    disliked: torch.Tensor,
    *,
    guidance: float,
    liked_strength: float,
    disliked_strength: float,
) -> torch.Tensor:
    """The method's four-way guidance: `uncond + g * (cond + a * liked - uncond - b * disliked)`."""
    a, b = liked_strength, disliked_strength
    return uncond + guidance * (cond + a * liked - uncond - b * disliked)


def keyword_direction(
    liked: torch.Tensor, disliked: torch.Tensor, *, liked_strength: float, disliked_strength: float
) -> torch.Tensor:
    """`a * liked - b * disliked`: the keywords' share of the guidance, which fast mode reuses between
    the steps that compute the liked and disliked branches."""
    return liked_strength * liked - disliked_strength * disliked


def reused_guidance(
    uncond: torch.Tensor, cond: torch.Tensor, direction: torch.Tensor, *, guidance: float
) -> torch.Tensor:
    """Fast mode between refreshes: `uncond + g * (cond - uncond + direction)`, with `direction` from
    `keyword_direction` on the last step that computed all four branches."""
    return uncond + guidance * (cond - uncond + direction)


def classifier_free_guidance(uncond: torch.Tensor, cond: torch.Tensor, *, guidance: float) -> torch.Tensor:
    """Stock classifier-free guidance, `uncond + g * (cond - uncond)`: the step without keywords."""
    return uncond + guidance * (cond - uncond)

"""The ViPer step's guidance arithmetic, checked against numbers worked out by hand.

Every input has distinct values and the two strengths differ, so a flipped sign, swapped strengths
or swapped branches all change the result. The expected tensors are written out, not recomputed
with the formula under test.
"""

from __future__ import annotations

import torch

from engine.guidance import classifier_free_guidance, keyword_direction, reused_guidance, viper_guidance

UNCOND = torch.tensor([1.0, 2.0])
COND = torch.tensor([3.0, 5.0])
LIKED = torch.tensor([10.0, 20.0])
DISLIKED = torch.tensor([100.0, 300.0])


def test_viper_guidance_by_hand():
    # g = 2, a = 0.5, b = 0.25:
    #   x0: 1 + 2 * (3 + 0.5 * 10 - 1 - 0.25 * 100) = 1 + 2 * (3 + 5 - 1 - 25)  = 1 + 2 * -18 = -35
    #   x1: 2 + 2 * (5 + 0.5 * 20 - 2 - 0.25 * 300) = 2 + 2 * (5 + 10 - 2 - 75) = 2 + 2 * -62 = -122
    noise = viper_guidance(UNCOND, COND, LIKED, DISLIKED, guidance=2.0, liked_strength=0.5, disliked_strength=0.25)
    assert torch.equal(noise, torch.tensor([-35.0, -122.0]))


def test_viper_guidance_keeps_the_strengths_apart():
    # The same call with the strengths swapped (a = 0.25, b = 0.5):
    #   x0: 1 + 2 * (3 + 2.5 - 1 - 50)  = 1 + 2 * -45.5  = -90
    #   x1: 2 + 2 * (5 + 5 - 2 - 150)   = 2 + 2 * -142   = -282
    noise = viper_guidance(UNCOND, COND, LIKED, DISLIKED, guidance=2.0, liked_strength=0.25, disliked_strength=0.5)
    assert torch.equal(noise, torch.tensor([-90.0, -282.0]))


def test_viper_guidance_pushes_towards_liked_and_away_from_disliked():
    # Only the liked branch (b = 0), g = 1, a = 1: 1 + (3 + 10 - 1) = 13, 2 + (5 + 20 - 2) = 25.
    liked_only = viper_guidance(UNCOND, COND, LIKED, DISLIKED, guidance=1.0, liked_strength=1.0, disliked_strength=0.0)
    assert torch.equal(liked_only, torch.tensor([13.0, 25.0]))
    # Only the disliked branch (a = 0), g = 1, b = 1: 1 + (3 - 1 - 100) = -97, 2 + (5 - 2 - 300) = -295.
    disliked_only = viper_guidance(
        UNCOND, COND, LIKED, DISLIKED, guidance=1.0, liked_strength=0.0, disliked_strength=1.0
    )
    assert torch.equal(disliked_only, torch.tensor([-97.0, -295.0]))


def test_viper_guidance_without_keyword_strength_is_classifier_free_guidance():
    # a = b = 0, g = 3: 1 + 3 * (3 - 1) = 7, 2 + 3 * (5 - 2) = 11; stock CFG gives the same.
    expected = torch.tensor([7.0, 11.0])
    assert torch.equal(
        viper_guidance(UNCOND, COND, LIKED, DISLIKED, guidance=3.0, liked_strength=0.0, disliked_strength=0.0),
        expected,
    )
    assert torch.equal(classifier_free_guidance(UNCOND, COND, guidance=3.0), expected)


def test_guidance_scale_one_is_cond_plus_the_keywords():
    # g = 1 drops uncond: 3 + 0.5 * 10 - 0.25 * 100 = -17, 5 + 0.5 * 20 - 0.25 * 300 = -60.
    noise = viper_guidance(UNCOND, COND, LIKED, DISLIKED, guidance=1.0, liked_strength=0.5, disliked_strength=0.25)
    assert torch.equal(noise, torch.tensor([-17.0, -60.0]))


def test_fast_mode_reuses_the_keyword_direction():
    # a = 0.5, b = 0.25: 0.5 * 10 - 0.25 * 100 = -20, 0.5 * 20 - 0.25 * 300 = -65.
    direction = keyword_direction(LIKED, DISLIKED, liked_strength=0.5, disliked_strength=0.25)
    assert torch.equal(direction, torch.tensor([-20.0, -65.0]))
    # On the step that computed it, reusing it gives exactly the four-way result (-35, -122 above):
    #   1 + 2 * (3 - 1 + -20) = -35, 2 + 2 * (5 - 2 + -65) = -122.
    assert torch.equal(reused_guidance(UNCOND, COND, direction, guidance=2.0), torch.tensor([-35.0, -122.0]))
    # On a later step with new uncond/cond (0, 4) and (1, 1), g = 2: 0 + 2 * (1 - 0 - 20) = -38,
    # 4 + 2 * (1 - 4 - 65) = -132.
    later = reused_guidance(torch.tensor([0.0, 4.0]), torch.tensor([1.0, 1.0]), direction, guidance=2.0)
    assert torch.equal(later, torch.tensor([-38.0, -132.0]))


def test_guidance_works_row_by_row_on_latent_shaped_tensors():
    # Shapes pass through: each element follows the same formula (g = 2, a = 0.5, b = 0.25).
    uncond, cond = torch.full((1, 4, 2, 2), 1.0), torch.full((1, 4, 2, 2), 3.0)
    liked, disliked = torch.full((1, 4, 2, 2), 10.0), torch.full((1, 4, 2, 2), 100.0)
    noise = viper_guidance(uncond, cond, liked, disliked, guidance=2.0, liked_strength=0.5, disliked_strength=0.25)
    assert noise.shape == (1, 4, 2, 2)
    assert torch.equal(noise, torch.full((1, 4, 2, 2), -35.0))


# The denoising loop feeds the branches in the order the UNet rows hold them: uncond, cond, disliked, liked.


def job(**overrides):
    from engine.conditioning import Conditioning
    from engine.denoising import Denoising

    rows = overrides.pop("rows", 4)
    blank = torch.zeros(rows, 1)
    fields = dict(
        latents=None, scheduler=None, timesteps=torch.arange(3), cond=Conditioning(blank, blank, blank),
        guidance=2.0, liked_strength=0.5, disliked_strength=0.25, step_kwargs={},
    )
    return Denoising(**{**fields, **overrides})


def unet_rows(*rows: torch.Tensor) -> torch.Tensor:
    return torch.stack(rows)  # one row per branch, as `predict` returns a job's prediction


def test_the_step_applies_viper_guidance_to_its_rows_in_order():
    noise = job().guide(unet_rows(UNCOND, COND, DISLIKED, LIKED))
    assert torch.equal(noise, torch.tensor([[-35.0, -122.0]]))


def test_the_step_without_keywords_is_classifier_free_guidance():
    # Two rows (uncond, cond), g = 2: 1 + 2 * 2 = 5, 2 + 2 * 3 = 8.
    assert torch.equal(job(rows=2).guide(unet_rows(UNCOND, COND)), torch.tensor([[5.0, 8.0]]))


def test_fast_mode_steps_reuse_the_direction_of_the_last_full_step():
    fast = job(refresh_every=2)
    assert fast.rows == 4
    assert torch.equal(fast.guide(unet_rows(UNCOND, COND, DISLIKED, LIKED)), torch.tensor([[-35.0, -122.0]]))
    fast.index = 1
    assert fast.rows == 2
    # direction (-20, -65) from the full step; new uncond (0, 4), cond (1, 1): -38, -132 as above.
    noise = fast.guide(unet_rows(torch.tensor([0.0, 4.0]), torch.tensor([1.0, 1.0])))
    assert torch.equal(noise, torch.tensor([[-38.0, -132.0]]))


"""Fixtures shared by the engine tests: the tiny SDXL on one CPU thread."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def one_thread():
    """The tiny model gains nothing from threads, and CI shares its few cores."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def tiny(one_thread):
    from engine.sdxl import load_generator

    return load_generator("tiny")


@pytest.fixture
def unet_batches(tiny):
    """The batch size of every UNet call the tiny model makes while the test runs."""
    sizes: list[int] = []
    hook = tiny.pipe.unet.register_forward_pre_hook(lambda module, args: sizes.append(args[0].shape[0]))
    yield sizes
    hook.remove()

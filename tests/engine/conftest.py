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

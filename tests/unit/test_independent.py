"""The independent model (one categorical per pixel; one unigram over the symbols of text and music):
its probabilities against hand computation. With the other baselines: test_baselines.py."""

import math

import pytest
import torch

from genlab.models.independent import Independent

TINY = torch.tensor([[[[0, 1, 1]]], [[[0, 0, 1]]]], dtype=torch.uint8)  # two 1x3 images, 2 levels


def test_independent_nll_against_hand_computation():
    m = Independent(Independent.Params(smoothing=1.0), (1, 1, 3), 2)
    m.fit(TINY, TINY)
    # pixel counts [2,0], [1,1], [0,2] -> p(0) = 3/4, 1/2, 1/4
    x = torch.tensor([[[[0, 0, 0]]]], dtype=torch.uint8)
    assert m.log_prob(x).item() == pytest.approx(math.log(3 / 4 * 1 / 2 * 1 / 4), abs=1e-12)


def test_independent_counts_are_per_pixel_and_level():
    x = torch.tensor([[[[0, 2]]], [[[0, 1]]], [[[1, 1]]]], dtype=torch.uint8)  # pixel 0: 0,0,1; pixel 1: 2,1,1
    m = Independent(Independent.Params(smoothing=1.0), (1, 1, 2), 3)
    m.fit(x, None)
    want = torch.tensor([[3.0, 2.0, 1.0], [1.0, 3.0, 2.0]]) / 6  # (counts + 1) / (3 + 3)
    assert torch.allclose(m.log_probs.exp(), want.double())

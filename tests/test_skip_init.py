"""nn.skip_init: a module built without drawing its initial values, for a checkpoint to fill."""
from __future__ import annotations

import numpy as np
import pytest

import minigrad
from minigrad import nn


def test_skip_init_builds_zeros_without_drawing():
    minigrad.manual_seed(3)
    model = nn.skip_init(nn.Sequential, nn.Linear(2, 3), nn.Embedding(4, 2))  # arguments built outside
    layers = nn.skip_init(nn.Linear, 5, 6, bias=True, dtype=np.float64)
    norm = nn.skip_init(nn.LayerNorm, 6)
    for p in [*layers.parameters(), *norm.parameters()]:
        assert not p.data.any()
    assert layers.weight.dtype == np.float64 and layers.weight.shape == (6, 5) and layers.bias.shape == (6,)
    after = minigrad.randn(3).data
    minigrad.manual_seed(3)
    nn.Linear(2, 3), nn.Embedding(4, 2)
    np.testing.assert_array_equal(minigrad.randn(3).data, after)  # skip_init drew nothing
    assert model[0].weight.data.any()  # only what skip_init itself builds is left at zeros


def test_skip_init_ends_with_the_call_even_on_an_error():
    with pytest.raises(ValueError, match="in_features must be a positive integer"):
        nn.skip_init(nn.Linear, 0, 2)
    assert nn.Linear(3, 2).weight.data.any()

"""generate(use_cache=True): a KV cache per block gives the tokens of the uncached path, also
past max_len (where the window slides) and when sampling."""
from __future__ import annotations

import numpy as np
import pytest

import minigrad
from transformer import TransformerConfig, TransformerLM


@pytest.mark.parametrize("layout", [dict(norm_first=False, pos_encoding="sinusoidal"),
                                    dict(norm_first=True, pos_encoding="learned", tie_embeddings=True)])
def test_cached_generation_equals_uncached(layout):
    minigrad.manual_seed(0)
    model = TransformerLM(TransformerConfig(vocab_size=13, max_len=10, d_model=16, n_heads=4, **layout))
    model.to(np.float64)
    prompt = np.random.default_rng(0).integers(0, 13, (3, 4))
    for temperature, top_k in ((0, None), (1.0, 5)):
        runs = [model.generate(prompt, 12, temperature=temperature, top_k=top_k, use_cache=use_cache,
                               rng=np.random.default_rng(1)) for use_cache in (True, False)]
        assert runs[0].shape == (3, 16)  # past max_len = 10: the window slides
        np.testing.assert_array_equal(runs[0], runs[1])


def test_caches_must_match_the_blocks():
    model = TransformerLM(TransformerConfig(vocab_size=5, max_len=8, n_layers=2))
    with pytest.raises(ValueError, match="1 caches for 2 blocks"):
        model(np.zeros((1, 2), dtype=np.int64), caches=model.new_caches()[:1])

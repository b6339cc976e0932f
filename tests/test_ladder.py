"""The ladder of the tutorial: each rung is the one before plus one part, the top rung is the
TransformerLM, and the quick run trains every rung to a finite loss, the full model below the bigram."""
import math

import numpy as np
import pytest

import minigrad
from transformer import TransformerConfig, TransformerLM
from transformer.ladder import LadderLM, LadderSettings, PastAverage, Rung, ladder_rungs, run_ladder

CONFIG = TransformerConfig(vocab_size=11, max_len=8, d_model=16, n_heads=4, n_layers=2)


def names(rung) -> set[str]:
    return {name for name, _ in LadderLM(CONFIG, rung).named_parameters()}


def test_each_rung_adds_one_part():
    rungs = ladder_rungs(4)
    assert [r.name for r in rungs] == ["bigram", "average", "one head", "4 heads", "feed-forward", "residual",
                                       "layernorm"]
    found = [names(r) for r in rungs]
    assert found[0] == {"tok_emb.weight", "head.weight", "head.bias"}
    assert found[1] - found[0] == {"pos_emb.weight"}  # the average has no parameters of its own
    assert {n.split(".")[3] for n in found[2] - found[1]} == {"q_proj", "k_proj", "v_proj", "out_proj"}
    assert found[3] == found[2]  # several heads: the same matrices, cut into 4
    assert {n.split(".")[2] for n in found[4] - found[3]} == {"ffn"}
    assert found[5] == found[4]  # the residual has no parameters
    assert {n.split(".")[2] for n in found[6] - found[5]} == {"norm1", "norm2"}


def test_the_top_rung_is_the_transformer_lm():
    minigrad.manual_seed(0)
    reference = TransformerLM(CONFIG)  # post-LN, the default
    top = LadderLM(CONFIG, ladder_rungs(CONFIG.n_heads)[-1])
    top.load_state_dict(reference.state_dict())
    ids = np.random.default_rng(0).integers(0, 11, size=(3, 8))
    assert np.allclose(top(ids)[0].numpy(), reference(ids)[0].numpy(), atol=1e-5)


def test_the_bigram_sees_one_character_and_the_others_only_the_past():
    ids = np.random.default_rng(1).integers(0, 11, size=(2, 8))
    changed = ids.copy()
    changed[:, 3] = (changed[:, 3] + 1) % 11
    for rung in ladder_rungs(4):
        minigrad.manual_seed(0)
        model = LadderLM(CONFIG, rung)
        same = np.isclose(model(ids)[0].numpy(), model(changed)[0].numpy(), atol=1e-6)
        moved = ~same.all(axis=-1)  # (B, T): the positions whose logits changed
        assert not moved[:, :3].any(), rung.name  # causal: earlier positions never see position 3
        assert moved[:, 3].all(), rung.name
        assert moved[:, 4:].any() != (rung.mixing is None), rung.name  # only the bigram ignores the past


def test_past_average_weighs_each_earlier_position_equally():
    x = minigrad.tensor(np.random.default_rng(2).standard_normal((2, 5, 3)))
    out = PastAverage()(x).numpy()
    expected = np.cumsum(x.numpy(), axis=1) / np.arange(1, 6)[None, :, None]
    assert np.allclose(out, expected)


def test_the_quick_ladder_runs_and_the_full_model_beats_the_bigram():
    result = run_ladder(LadderSettings.quick_run())
    losses = {r.rung.name: r.mean for r in result.rungs}
    assert all(math.isfinite(v) and v < result.uniform_loss for v in losses.values()), losses
    assert losses["layernorm"] < losses["bigram"] - 0.1, losses
    table = result.table()
    assert table.startswith("QUICK RUN") and all(f"| {name} |" in table for name in losses)



def test_a_rung_that_cannot_be_built_is_refused_by_name():
    with pytest.raises(ValueError, match="'mine': mixing='averge'"):
        Rung("mine", "a typo", mixing="averge")
    with pytest.raises(ValueError, match="needs a block"):
        Rung("mine", "a residual around nothing", residual=True)

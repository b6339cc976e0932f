"""The transformer package's model: config validation, gradient checks of every module and
attention variant (float64, tiny sizes), causality, padding, the experiment variants' shapes
and claims, sampling, save/load and the error messages."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad
from transformer import FeedForward, MultiHeadAttention, TransformerBlock, TransformerConfig, TransformerLM
from transformer.attention import record_attention
from transformer.model import sinusoidal_table

VARIANTS = {
    "default": {},
    "no_scale": {"scale": False},
    "shared_qk": {"shared_qk": True},
    "additive": {"score": "additive"},
    "head_dim": {"head_dim": 3},
}


def f64(module):
    """The module with its parameters in float64, for gradient checks."""
    return module.to(np.float64)


def randn(*shape, seed=0):
    return minigrad.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def padding_mask():
    """(2, 4): the first sequence has two padded keys at the end, the second none."""
    return np.array([[False, False, True, True], [False, False, False, False]])


def check_wrt_input_and_parameters(module, x, **kwargs):
    """gradcheck of module(x, **kwargs) with respect to x and every parameter: a parameter is
    passed as an input that fn ignores, since the module reads it itself."""
    params = list(module.parameters())
    assert minigrad.gradcheck(lambda x, *_: module(x, **kwargs), [x, *params])


# ----- config ------------------------------------------------------------------------------------
def test_config_defaults_and_ff_dim():
    c = TransformerConfig(vocab_size=10, max_len=8)
    assert (c.d_model, c.n_heads, c.n_layers, c.d_ff, c.ff_dim) == (64, 4, 2, None, 256)
    assert (c.norm_first, c.pos_encoding, c.causal, c.scale, c.shared_qk, c.score, c.head_dim) == (
        False, "learned", True, True, False, "dot", None)
    assert TransformerConfig(vocab_size=10, max_len=8, d_ff=7).ff_dim == 7


@pytest.mark.parametrize("fields, words", [
    ({"d_model": 10, "n_heads": 3}, ["d_model=10", "n_heads=3"]),
    ({"vocab_size": 0}, ["vocab_size=0"]),
    ({"max_len": -1}, ["max_len=-1"]),
    ({"n_layers": 0}, ["n_layers=0"]),
    ({"d_ff": 0}, ["d_ff=0"]),
    ({"head_dim": -2}, ["head_dim=-2"]),
    ({"dropout": 1.0}, ["dropout=1.0"]),
    ({"pos_encoding": "rotary"}, ["pos_encoding='rotary'", "sinusoidal"]),
    ({"score": "cosine"}, ["score='cosine'", "additive"]),
])
def test_config_rejects_bad_values_naming_them(fields, words):
    args = {"vocab_size": 10, "max_len": 8, **fields}
    with pytest.raises(ValueError) as info:
        TransformerConfig(**args)
    for word in words:
        assert word in str(info.value)


def test_config_head_dim_lifts_divisibility():
    assert TransformerConfig(vocab_size=10, max_len=8, d_model=10, n_heads=3, head_dim=4).head_dim == 4


# ----- attention ---------------------------------------------------------------------------------
@pytest.mark.parametrize("options", VARIANTS.values(), ids=VARIANTS.keys())
@pytest.mark.parametrize("masks", [{}, {"causal": True, "key_padding_mask": padding_mask()}],
                         ids=["nomask", "masked"])
def test_attention_gradcheck(options, masks):
    minigrad.manual_seed(0)
    attn = f64(MultiHeadAttention(4, 2, **options))
    check_wrt_input_and_parameters(attn, randn(2, 4, 4), **masks)


def test_attention_shapes_and_weights():
    minigrad.manual_seed(0)
    attn = MultiHeadAttention(8, 2)
    attn.record_weights = True
    x = minigrad.randn(3, 5, 8)
    y = attn(x, causal=True)
    assert y.shape == (3, 5, 8) and y.dtype == np.float32
    w = attn.attn_weights
    assert isinstance(w, np.ndarray) and w.shape == (3, 2, 5, 5)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-6)
    assert np.all(w[:, :, np.triu(np.ones((5, 5), bool), 1)] == 0)  # no query sees a later key
    assert attn.attn_scores.shape == (3, 2, 5, 5)


def test_attention_weights_are_recorded_only_when_asked():
    minigrad.manual_seed(0)
    model = TransformerLM(TransformerConfig(vocab_size=5, max_len=4, d_model=8, n_heads=2, n_layers=2))
    ids = np.array([[1, 2, 3, 4]])
    model(ids, ids)  # a training forward keeps no (B, h, T, T) arrays
    attns = [block.attn for block in model.blocks]
    assert all(a.attn_weights is None and a.attn_scores is None for a in attns)
    with record_attention(model) as recorded:
        assert recorded == attns and all(a.record_weights for a in attns)
        model(ids)
    assert not any(a.record_weights for a in attns)  # restored
    assert all(a.attn_weights.shape == (1, 2, 4, 4) and a.attn_scores.shape == (1, 2, 4, 4) for a in attns)
    kept = attns[0].attn_weights
    model(ids[:, :2])  # not recording: the recorded arrays stay as they were
    assert attns[0].attn_weights is kept
    with pytest.raises(RuntimeError), record_attention(model):
        raise RuntimeError("boom")
    assert not any(a.record_weights for a in attns)  # restored after an error too


@pytest.mark.parametrize("options", VARIANTS.values(), ids=VARIANTS.keys())
def test_attention_keeps_float32(options):
    minigrad.manual_seed(0)
    attn = MultiHeadAttention(8, 2, **options)
    attn.record_weights = True
    x = minigrad.randn(2, 3, 8, requires_grad=True)
    y = attn(x, causal=True, key_padding_mask=np.zeros((2, 3), bool))
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    assert attn.attn_weights.dtype == np.float32 and attn.attn_scores.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in attn.parameters())


def test_attention_scores_are_scaled_dot_products():
    minigrad.manual_seed(0)
    x = minigrad.randn(1, 3, 8)
    for scale, factor in ((True, 0.5), (False, 1.0)):  # d_k = 8 / 2 = 4
        minigrad.manual_seed(1)
        attn = MultiHeadAttention(8, 2, scale=scale)
        attn.record_weights = True
        attn(x)
        q = (x.data @ attn.q_proj.weight.data.T + attn.q_proj.bias.data).reshape(3, 2, 4).transpose(1, 0, 2)
        k = (x.data @ attn.k_proj.weight.data.T + attn.k_proj.bias.data).reshape(3, 2, 4).transpose(1, 0, 2)
        np.testing.assert_allclose(attn.attn_scores[0], factor * q @ k.transpose(0, 2, 1), rtol=1e-5,
                                   atol=1e-6)


def test_shared_qk_scores_are_symmetric():
    minigrad.manual_seed(0)
    attn = MultiHeadAttention(8, 2, shared_qk=True)
    attn.record_weights = True
    assert attn.k_proj is None
    assert len(list(attn.parameters())) == 6  # q, v, out: weight and bias each
    attn(minigrad.randn(2, 5, 8), causal=True)  # the scores are kept from before the mask
    s = attn.attn_scores
    np.testing.assert_allclose(s, s.transpose(0, 1, 3, 2), rtol=1e-5, atol=1e-6)
    separate = MultiHeadAttention(8, 2)
    separate.record_weights = True
    separate(minigrad.randn(2, 5, 8))
    assert not np.allclose(separate.attn_scores, separate.attn_scores.transpose(0, 1, 3, 2), atol=1e-3)


def test_additive_scores_match_the_formula():
    minigrad.manual_seed(0)
    attn = MultiHeadAttention(6, 2, score="additive")  # d_k = 3
    attn.record_weights = True
    x = minigrad.randn(1, 4, 6)
    attn(x)
    q = (x.data @ attn.q_proj.weight.data.T + attn.q_proj.bias.data).reshape(4, 2, 3)
    k = (x.data @ attn.k_proj.weight.data.T + attn.k_proj.bias.data).reshape(4, 2, 3)
    v = attn.score.v.data  # (h, d_k)
    expected = np.einsum("hd,ijhd->hij", v, np.tanh(q[:, None] + k[None, :])) / np.sqrt(3)
    np.testing.assert_allclose(attn.attn_scores[0], expected, rtol=1e-5, atol=1e-6)
    assert [name for name, _ in attn.named_parameters()].count("score.v") == 1


def test_head_dim_sets_the_projection_sizes():
    attn = MultiHeadAttention(6, 4, head_dim=5)
    attn.record_weights = True
    assert attn.q_proj.weight.shape == (20, 6) and attn.v_proj.weight.shape == (20, 6)
    assert attn.out_proj.weight.shape == (6, 20)
    assert attn(minigrad.randn(2, 3, 6)).shape == (2, 3, 6)
    assert attn.attn_weights.shape == (2, 4, 3, 3)
    np.testing.assert_allclose(attn.score.scale, 1 / np.sqrt(5))


def test_padding_keys_get_no_weight_and_blind_queries_no_nan():
    minigrad.manual_seed(0)
    attn = MultiHeadAttention(4, 2)
    attn.record_weights = True
    x = minigrad.randn(2, 4, 4, requires_grad=True)
    mask = np.array([[False, True, False, True], [True, True, True, True]])  # second: all padding
    y = attn(x, key_padding_mask=mask)
    y.sum().backward()
    w = attn.attn_weights
    assert np.all(w[0][..., mask[0]] == 0)
    assert np.all(w[1] == 0)  # nothing to attend to: zero weights (PyTorch's SDPA), not NaN
    np.testing.assert_allclose(y.data[1], np.broadcast_to(attn.out_proj.bias.data, (4, 4)))
    assert np.isfinite(x.grad.data).all()
    # causal + left padding: the first query sees only a padded key
    attn(x, causal=True, key_padding_mask=np.array([[True, False, False, False]] * 2))
    assert np.all(attn.attn_weights[:, :, 0] == 0) and np.isfinite(attn.attn_weights).all()


def test_attention_errors():
    with pytest.raises(ValueError, match="d_model=10 is not divisible by n_heads=3"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="score='bilinear'"):
        MultiHeadAttention(8, 2, score="bilinear")
    attn = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=r"expected input \(B, T, 8\), got shape \(2, 3, 4\)"):
        attn(minigrad.randn(2, 3, 4))
    with pytest.raises(ValueError,
                       match=r"key_padding_mask must be a bool array of shape \(B, T\) = \(2, 3\)"):
        attn(minigrad.randn(2, 3, 8), key_padding_mask=np.zeros((2, 4), bool))


# ----- feed-forward and block --------------------------------------------------------------------
def test_feedforward_gradcheck():
    minigrad.manual_seed(0)
    check_wrt_input_and_parameters(f64(FeedForward(4, 6)), randn(2, 3, 4))


@pytest.mark.parametrize("norm_first", [False, True])
def test_block_gradcheck(norm_first):
    minigrad.manual_seed(0)
    block = f64(TransformerBlock(4, 2, 6, norm_first=norm_first))
    check_wrt_input_and_parameters(block, randn(2, 4, 4), causal=True, key_padding_mask=padding_mask())


def test_block_children_and_attention_options():
    block = TransformerBlock(8, 2, 16, shared_qk=True, head_dim=3)
    assert [name for name, _ in block.named_children()][:4] == ["attn", "norm1", "ffn", "norm2"]
    assert block.attn.k_proj is None and block.attn.head_dim == 3


# ----- the language model ------------------------------------------------------------------------
def tiny_config(**fields):
    return TransformerConfig(**{"vocab_size": 5, "max_len": 4, "d_model": 4, "n_heads": 2,
                                "n_layers": 1, "d_ff": 6, **fields})


def ids_and_targets(config, B=2, T=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, config.vocab_size, (B, T)), rng.integers(0, config.vocab_size, (B, T))


@pytest.mark.parametrize("fields", [{}, {"norm_first": True, "pos_encoding": "sinusoidal", "causal": False}],
                         ids=["post_ln_learned", "pre_ln_sinusoidal"])
def test_lm_loss_gradcheck(fields):
    minigrad.manual_seed(0)
    config = tiny_config(**fields)
    model = f64(TransformerLM(config))
    ids, targets = ids_and_targets(config)
    targets[0, 1] = -100
    assert minigrad.gradcheck(lambda *_: model(ids, targets)[1], list(model.parameters()))


def test_lm_children():
    learned = TransformerLM(tiny_config(n_layers=2))
    names = [name for name, _ in learned.named_children()]
    assert {"tok_emb", "pos_emb", "blocks", "head"} <= set(names) and "norm" not in names
    assert len(learned.blocks) == 2
    pre = TransformerLM(tiny_config(norm_first=True, pos_encoding="sinusoidal"))
    names = [name for name, _ in pre.named_children()]
    assert "norm" in names and "pos_emb" not in names
    assert not any(name.startswith("pos") for name in pre.state_dict())  # the table is not a parameter


def test_sinusoidal_table():
    table = sinusoidal_table(50, 6)
    assert table.shape == (50, 6)
    np.testing.assert_allclose(table[0], [0, 1, 0, 1, 0, 1])
    p, i = 7, 1
    np.testing.assert_allclose(table[p, 2 * i], np.sin(p / 10000 ** (2 * i / 6)))
    np.testing.assert_allclose(table[p, 2 * i + 1], np.cos(p / 10000 ** (2 * i / 6)))
    assert sinusoidal_table(3, 5).shape == (3, 5)  # odd widths work too


def test_lm_forward_shapes_dtype_and_ignored_targets():
    minigrad.manual_seed(0)
    config = TransformerConfig(vocab_size=7, max_len=6, d_model=8, n_heads=2)
    model = TransformerLM(config)
    ids, targets = np.arange(12).reshape(2, 6) % 7, np.arange(1, 13).reshape(2, 6) % 7
    logits, loss = model(ids)
    assert logits.shape == (2, 6, 7) and logits.dtype == np.float32 and loss is None
    logits, loss = model(ids, targets)
    assert loss.shape == () and loss.dtype == np.float32
    ignored = targets.copy()
    ignored[:, :3] = -100
    _, partial = model(ids, ignored)
    z = logits.data[:, 3:].reshape(-1, 7).astype(np.float64)
    logp = z - z.max(-1, keepdims=True) - np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True))
    expected = -logp[np.arange(6), targets[:, 3:].reshape(-1)].mean()
    np.testing.assert_allclose(partial.item(), expected, rtol=1e-5)


@pytest.mark.parametrize("pos_encoding", ["learned", "sinusoidal"])
def test_lm_is_causal(pos_encoding):
    minigrad.manual_seed(0)
    config = TransformerConfig(vocab_size=9, max_len=8, d_model=8, n_heads=2, norm_first=True,
                               pos_encoding=pos_encoding)
    model = f64(TransformerLM(config))
    ids = np.random.default_rng(0).integers(0, 9, (2, 8))
    changed = ids.copy()
    changed[:, 5:] = (changed[:, 5:] + 1) % 9
    before, after = model(ids)[0].data, model(changed)[0].data
    np.testing.assert_allclose(after[:, :5], before[:, :5], rtol=0, atol=1e-12)
    assert not np.allclose(after[:, 5:], before[:, 5:])


def test_lm_ignores_padded_tokens():
    minigrad.manual_seed(0)
    config = TransformerConfig(vocab_size=9, max_len=6, d_model=8, n_heads=2, causal=False)
    model = f64(TransformerLM(config))
    ids = np.random.default_rng(0).integers(0, 9, (2, 6))
    pad = np.zeros((2, 6), bool)
    pad[0, 4:] = True
    pad[1, 5:] = True
    changed = np.where(pad, (ids + 3) % 9, ids)
    before, after = model(ids, key_padding_mask=pad)[0].data, model(changed, key_padding_mask=pad)[0].data
    np.testing.assert_allclose(after[~pad], before[~pad], rtol=0, atol=1e-12)
    assert not np.allclose(model(changed)[0].data[~pad], before[~pad])  # without the mask they matter


def test_lm_rejects_bad_ids_naming_the_limit_and_value():
    model = TransformerLM(TransformerConfig(vocab_size=10, max_len=4, d_model=8, n_heads=2))
    with pytest.raises(ValueError, match="sequence length 5 exceeds max_len 4"):
        model(np.zeros((1, 5), np.int64))
    with pytest.raises(IndexError, match=r"token id 12 is outside \[0, 10\)"):
        model(np.array([[1, 12, 3]]))
    with pytest.raises(IndexError, match=r"token id -1 is outside \[0, 10\)"):
        model(np.array([[1, -1, 3]]))
    with pytest.raises(ValueError, match=r"shape \(batch, time\)"):
        model(np.array([1, 2, 3]))
    with pytest.raises(TypeError, match="must be integers"):
        model(np.array([[1.0, 2.0]]))
    with pytest.raises(ValueError, match=r"got shape \(0, 3\)"):  # not numpy's "zero-size array" error
        model(np.zeros((0, 3), np.int64))
    with pytest.raises(ValueError, match=r"targets of shape \(1, 2\) do not match ids of shape \(1, 3\)"):
        model(np.array([[1, 2, 3]]), np.array([[1, 2]]))


# ----- generation ------------------------------------------------------------------------------
def test_generate():
    minigrad.manual_seed(0)
    model = TransformerLM(TransformerConfig(vocab_size=6, max_len=4, d_model=8, n_heads=2, dropout=0.1))
    prompt = np.array([[1, 2], [3, 4]])
    out = model.generate(prompt, 7, rng=np.random.default_rng(0))  # grows past max_len: cropped
    assert out.shape == (2, 9) and out.dtype == np.int64 and np.array_equal(out[:, :2], prompt)
    assert ((out >= 0) & (out < 6)).all()
    assert np.array_equal(out, model.generate(prompt, 7, rng=np.random.default_rng(0)))
    assert model.training  # the mode is restored

    greedy = model.generate(prompt, 3, temperature=0)
    assert np.array_equal(greedy, model.generate(prompt, 3, top_k=1, rng=np.random.default_rng(5)))
    model.eval()
    with minigrad.no_grad():
        first = model(prompt)[0].data[:, -1].argmax(-1)
    assert np.array_equal(greedy[:, 2], first)
    assert model.generate(np.array([1, 2]), 2).shape == (4,)  # one sequence in, one out

    with pytest.raises(ValueError, match="temperature"):
        model.generate(prompt, 1, temperature=-1)
    with pytest.raises(ValueError, match="top_k"):
        model.generate(prompt, 1, top_k=0)
    with pytest.raises(TypeError, match="must be integers"):  # not silently truncated to 1, 2
        model.generate(np.array([1.5, 2.7]), 1)


# ----- save and load ---------------------------------------------------------------------------
@pytest.mark.parametrize("fields",
                         [{}, {"pos_encoding": "sinusoidal", "norm_first": True, "score": "additive"}])
def test_save_load_gives_identical_logits(tmp_path, fields):
    minigrad.manual_seed(0)
    config = TransformerConfig(vocab_size=7, max_len=5, d_model=8, n_heads=2, **fields)
    model = TransformerLM(config)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = TransformerLM.load(path)
    assert loaded.config == config
    ids = np.array([[1, 2, 3, 4, 5]])
    assert np.array_equal(loaded(ids)[0].data, model(ids)[0].data)
    assert loaded.head.weight.dtype == np.float32


def test_load_keeps_the_saved_dtype(tmp_path):
    model = f64(TransformerLM(TransformerConfig(vocab_size=7, max_len=5, d_model=8, n_heads=2)))
    model.save(tmp_path / "model.npz")
    loaded = TransformerLM.load(tmp_path / "model.npz")
    assert all(p.dtype == np.float64 for p in loaded.parameters())
    ids = np.array([[1, 2, 3]])
    assert np.array_equal(loaded(ids)[0].data, model(ids)[0].data)


def test_load_reports_missing_and_misshaped_weights(tmp_path):
    model = TransformerLM(TransformerConfig(vocab_size=7, max_len=5, d_model=8, n_heads=2))
    path = tmp_path / "model.npz"
    model.save(path)
    state = minigrad.load(path)
    state["model.tok_emb.weight"] = np.zeros((3, 8), np.float32)
    minigrad.save(state, path)
    with pytest.raises(ValueError, match=r"'model.tok_emb.weight' has shape \(3, 8\), the config needs \(7"):
        TransformerLM.load(path)
    state["model.tok_emb.weight"] = np.zeros((7, 8), np.float32)
    del state["model.head.bias"]
    minigrad.save(state, path)
    with pytest.raises(ValueError, match="missing weight 'model.head.bias'"):
        TransformerLM.load(path)
    del state["checkpoint"]
    minigrad.save(state, path)
    with pytest.raises(ValueError, match="not a minigrad model file"):
        TransformerLM.load(path)


def test_importing_transformer_does_not_import_torch():
    code = "import sys, transformer; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)

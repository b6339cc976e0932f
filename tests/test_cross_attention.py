"""MultiHeadAttention with a `memory` (cross-attention) and with a KV cache: gradchecks in
float64, the rectangular (B, h, T, S) weights, agreement with torch.nn.MultiheadAttention,
cached decoding equal to the full pass, and the errors for bad shapes."""
from __future__ import annotations

import numpy as np
import pytest

import minigrad
from transformer import MultiHeadAttention
from transformer.attention import KVCache

VARIANTS = {
    "default": {},
    "shared_qk": {"shared_qk": True},
    "additive": {"score": "additive"},
    "head_dim": {"head_dim": 3},
}


def randn(*shape, seed=0):
    return minigrad.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def memory_padding():
    """(2, 5): the first source has its last two positions padded, the second is all padding."""
    return np.array([[False, False, False, True, True], [True] * 5])


@pytest.mark.parametrize("options", VARIANTS.values(), ids=VARIANTS.keys())
@pytest.mark.parametrize("padding", [None, memory_padding()], ids=["nomask", "padded"])
def test_cross_attention_gradcheck_wrt_queries_memory_and_parameters(options, padding):
    minigrad.manual_seed(0)
    attn = MultiHeadAttention(4, 2, **options).to(np.float64)
    x, memory = randn(2, 3, 4, seed=1), randn(2, 5, 4, seed=2)
    params = list(attn.parameters())
    assert minigrad.gradcheck(lambda x, m, *_: attn(x, key_padding_mask=padding, memory=m),
                              [x, memory, *params])


def test_cross_attention_weights_are_rectangular_and_skip_padding():
    minigrad.manual_seed(0)
    attn = MultiHeadAttention(8, 2)
    attn.record_weights = True
    y = attn(randn(2, 3, 8), key_padding_mask=memory_padding(), memory=randn(2, 5, 8, seed=1))
    assert y.shape == (2, 3, 8)
    w = attn.attn_weights
    assert w.shape == (2, 2, 3, 5) and attn.attn_scores.shape == (2, 2, 3, 5)
    np.testing.assert_allclose(w[0].sum(-1), 1.0, rtol=1e-5)
    assert np.all(w[0, :, :, 3:] == 0)  # padded source positions get no weight
    assert np.all(w[1] == 0)  # every key is padding: all-zero weights, not NaN


def test_cross_attention_matches_torch_multihead_attention():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ref = torch.nn.MultiheadAttention(6, 3, batch_first=True, dtype=torch.float64)
    attn = MultiHeadAttention(6, 3).to(np.float64)
    attn.record_weights = True
    w_q, w_k, w_v = np.split(ref.in_proj_weight.detach().numpy(), 3)
    b_q, b_k, b_v = np.split(ref.in_proj_bias.detach().numpy(), 3)
    attn.load_state_dict({"q_proj.weight": w_q, "q_proj.bias": b_q, "k_proj.weight": w_k, "k_proj.bias": b_k,
                          "v_proj.weight": w_v, "v_proj.bias": b_v,
                          "out_proj.weight": ref.out_proj.weight.detach().numpy(),
                          "out_proj.bias": ref.out_proj.bias.detach().numpy()})
    x = np.random.default_rng(1).standard_normal((2, 4, 6))
    memory = np.random.default_rng(2).standard_normal((2, 7, 6))
    padding = np.zeros((2, 7), dtype=bool)
    padding[0, 5:] = True
    grad_out = np.random.default_rng(3).standard_normal((2, 4, 6))

    xt, mt = torch.tensor(x, requires_grad=True), torch.tensor(memory, requires_grad=True)
    yt, wt = ref(xt, mt, mt, key_padding_mask=torch.from_numpy(padding), average_attn_weights=False)
    yt.backward(torch.from_numpy(grad_out))
    xm, mm = minigrad.tensor(x, requires_grad=True), minigrad.tensor(memory, requires_grad=True)
    ym = attn(xm, key_padding_mask=padding, memory=mm)
    ym.backward(grad_out)

    np.testing.assert_allclose(ym.data, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(attn.attn_weights, wt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xm.grad.data, xt.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(mm.grad.data, mt.grad.numpy(), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("options", VARIANTS.values(), ids=VARIANTS.keys())
def test_self_attention_cache_step_by_step_equals_the_full_causal_pass(options):
    minigrad.manual_seed(0)
    attn = MultiHeadAttention(4, 2, **options).to(np.float64)
    x = randn(2, 5, 4)
    full = attn(x, causal=True).data
    cache = KVCache()
    steps = [attn(x[:, t: t + 1], causal=True, cache=cache).data for t in range(5)]
    assert cache.length == 5
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=1e-12, atol=1e-12)
    # two positions at once after three cached ones: the causal mask is aligned to the end
    cache = KVCache()
    attn(x[:, :3], causal=True, cache=cache)
    np.testing.assert_allclose(attn(x[:, 3:], causal=True, cache=cache).data, full[:, 3:], rtol=1e-12,
                               atol=1e-12)


def test_cross_attention_cache_computes_the_memory_once():
    minigrad.manual_seed(0)
    attn = MultiHeadAttention(4, 2).to(np.float64)
    x, memory = randn(1, 3, 4), randn(1, 6, 4, seed=1)
    full = attn(x, memory=memory).data
    cache = KVCache()
    first = attn(x[:, :1], memory=memory, cache=cache).data
    kept = cache.k
    rest = attn(x[:, 1:], memory=memory, cache=cache).data
    assert cache.k is kept and cache.length == 6
    np.testing.assert_allclose(np.concatenate([first, rest], axis=1), full, rtol=1e-12, atol=1e-12)


def test_cross_attention_errors_name_the_shapes():
    attn = MultiHeadAttention(8, 2)
    x = randn(2, 3, 8)
    with pytest.raises(ValueError,
                       match=r"memory must be \(B, S, d_model\) = \(2, S, 8\).*\(2, 3, 8\).*\(2, 5, 6\)"):
        attn(x, memory=randn(2, 5, 6))
    with pytest.raises(ValueError, match=r"\(2, 3, 8\).*\(3, 5, 8\)"):
        attn(x, memory=randn(3, 5, 8))
    with pytest.raises(ValueError, match=r"key_padding_mask .*\(2, 5\).*\(2, 3\)"):
        attn(x, key_padding_mask=np.zeros((2, 3), dtype=bool), memory=randn(2, 5, 8))
    with pytest.raises(ValueError, match="causal"):
        attn(x, causal=True, memory=randn(2, 5, 8))

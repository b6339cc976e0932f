"""MultiHeadAttention's modern options: grouped-query heads (n_kv_heads), rotary positions
(rope_theta), the fused scaled_dot_product_attention path (equal to the explicit one), and the
torch.nn.MultiheadAttention-style call attn(query, key, value)."""
import numpy as np
import pytest

import minigrad
from transformer import MultiHeadAttention
from transformer.attention import KVCache, repeat_kv


def randn(*shape, seed=0):
    return minigrad.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


OPTIONS = {
    "mha": {},
    "gqa-2kv": {"n_kv_heads": 2},
    "mqa-1kv": {"n_kv_heads": 1},
    "rope": {"rope_theta": 10000.0, "max_len": 8},
    "rope-gqa": {"rope_theta": 100.0, "n_kv_heads": 2, "max_len": 8},
    "gqa-additive": {"n_kv_heads": 2, "score": "additive"},
    "rope-no-bias": {"rope_theta": 10000.0, "bias": False, "max_len": 8},
}
PADDING = np.array([[False, False, False, True, True], [True, False, False, False, False]])


def build(options, seed=0):
    minigrad.manual_seed(seed)
    return MultiHeadAttention(8, 4, **options).to(np.float64)


@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())
@pytest.mark.parametrize("causal, padding", [(True, None), (False, PADDING), (True, PADDING)],
                         ids=["causal", "padded", "causal-padded"])
def test_gradcheck(options, causal, padding):
    attn = build(options)
    x = randn(2, 5, 8, seed=1)
    params = list(attn.parameters())
    assert minigrad.gradcheck(lambda x, *_: attn(x, causal=causal, key_padding_mask=padding),
                              [x, *params])


@pytest.mark.parametrize("options", [o for k, o in OPTIONS.items() if "additive" not in k],
                         ids=[k for k in OPTIONS if "additive" not in k])
@pytest.mark.parametrize("causal, padding", [(True, None), (False, None), (True, PADDING)],
                         ids=["causal", "plain", "causal-padded"])
def test_fused_path_equals_the_explicit_path(options, causal, padding):
    attn = build(options)
    assert attn.fused
    outputs, grads = [], []
    for record in (False, True):  # recording the weights takes the explicit path
        attn.record_weights = record
        attn.zero_grad()
        x = randn(2, 5, 8, seed=1)
        y = attn(x, causal=causal, key_padding_mask=padding)
        y.backward(minigrad.tensor(np.random.default_rng(2).standard_normal(y.shape)))
        outputs.append(y.data)
        grads.append([x.grad.data] + [p.grad.data for p in attn.parameters()])
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-12, atol=1e-12)
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert attn.attn_weights.shape == (2, 4, 5, 5)


def op_names(y):
    from minigrad.autograd import topological_order
    return {type(node).__name__ for node in topological_order(y.grad_fn)}


def test_the_graph_shows_which_path_ran():
    attn = MultiHeadAttention(8, 2, n_kv_heads=1, rope_theta=10000.0, max_len=4)
    fused = op_names(attn(minigrad.randn(1, 4, 8, requires_grad=True), causal=True))
    assert "ScaledDotProductAttention" in fused and "Softmax" not in fused
    attn.record_weights = True
    explicit = op_names(attn(minigrad.randn(1, 4, 8, requires_grad=True), causal=True))
    assert "Softmax" in explicit and "ScaledDotProductAttention" not in explicit
    additive = MultiHeadAttention(8, 2, score="additive")
    assert "Softmax" in op_names(additive(minigrad.randn(1, 4, 8, requires_grad=True)))


def test_grouped_query_sizes_and_repr():
    attn = MultiHeadAttention(16, 4, n_kv_heads=2)
    assert attn.k_proj.weight.shape == (8, 16) and attn.v_proj.weight.shape == (8, 16)
    assert attn.q_proj.weight.shape == (16, 16) and attn.out_proj.weight.shape == (16, 16)
    assert "n_kv_heads=2" in repr(attn) and "n_kv_heads" not in repr(MultiHeadAttention(16, 4))
    with pytest.raises(ValueError, match="n_heads=4 must be a multiple of n_kv_heads=3"):
        MultiHeadAttention(16, 4, n_kv_heads=3)
    with pytest.raises(ValueError, match="shared_qk makes the keys with q_proj"):
        MultiHeadAttention(16, 4, n_kv_heads=2, shared_qk=True)


def test_repeat_kv_serves_consecutive_query_heads():
    x = minigrad.tensor(np.arange(2 * 3 * 1 * 1, dtype=np.float64).reshape(2, 3, 1, 1))
    assert repeat_kv(x, 2).data[0, :, 0, 0].tolist() == [0, 0, 1, 1, 2, 2]
    assert repeat_kv(x, 1) is x


def test_grouped_query_attention_matches_torch_sdpa_with_enable_gqa():
    torch = pytest.importorskip("torch")
    attn = build({"n_kv_heads": 2})
    x = randn(2, 5, 8, seed=3)
    y = attn(x, causal=True)
    w = {n: torch.from_numpy(p.data) for n, p in attn.named_parameters()}
    tx = torch.from_numpy(x.data)
    q = (tx @ w["q_proj.weight"].T + w["q_proj.bias"]).reshape(2, 5, 4, 2).transpose(1, 2)
    k = (tx @ w["k_proj.weight"].T + w["k_proj.bias"]).reshape(2, 5, 2, 2).transpose(1, 2)
    v = (tx @ w["v_proj.weight"].T + w["v_proj.bias"]).reshape(2, 5, 2, 2).transpose(1, 2)
    o = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    expected = o.transpose(1, 2).reshape(2, 5, 8) @ w["out_proj.weight"].T + w["out_proj.bias"]
    np.testing.assert_allclose(y.data, expected.numpy(), rtol=1e-12, atol=1e-12)


class StartsAt(KVCache):
    """An empty cache whose queries start at position `start` (as if earlier positions had
    been dropped): a way to place the same tokens further along the sequence."""

    def __init__(self, start):
        super().__init__()
        self.start = start

    @property
    def length(self):
        return self.start if self.k is None else self.k.shape[2]


def test_rope_attention_sees_only_relative_positions():
    """With RoPE and no other position signal, moving every token by the same number of
    positions leaves the output unchanged; without RoPE the rotation offset is meaningless."""
    attn = build({"rope_theta": 100.0, "max_len": 12})
    x = randn(1, 4, 8, seed=4)
    at_start = attn(x, cache=StartsAt(0))  # positions 0..3
    later = attn(x, cache=StartsAt(5))  # positions 5..8
    np.testing.assert_allclose(later.data, at_start.data, rtol=1e-10, atol=1e-12)
    q = attn.rotary(attn.split_heads(attn.q_proj(x)), 5)
    assert not np.allclose(q.data, attn.rotary(attn.split_heads(attn.q_proj(x)), 0).data)


def test_cached_decoding_with_rope_and_gqa_equals_the_full_pass():
    attn = build({"rope_theta": 10000.0, "n_kv_heads": 2, "max_len": 8})
    x = randn(2, 6, 8, seed=6)
    full = attn(x, causal=True).data
    cache = KVCache()
    steps = [attn(x[:, t: t + 1], causal=True, cache=cache).data for t in range(6)]
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=1e-12, atol=1e-12)
    assert cache.k.shape == (2, 2, 6, 2)  # the cache keeps the n_kv_heads heads only


def test_query_key_value_call_like_torch_multihead_attention():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ref = torch.nn.MultiheadAttention(6, 3, batch_first=True, dtype=torch.float64)
    attn = MultiHeadAttention(6, 3).to(np.float64)
    w_q, w_k, w_v = np.split(ref.in_proj_weight.detach().numpy(), 3)
    b_q, b_k, b_v = np.split(ref.in_proj_bias.detach().numpy(), 3)
    for proj, w, b in ((attn.q_proj, w_q, b_q), (attn.k_proj, w_k, b_k), (attn.v_proj, w_v, b_v)):
        proj.weight.data[...], proj.bias.data[...] = w, b
    attn.out_proj.weight.data[...] = ref.out_proj.weight.detach().numpy()
    attn.out_proj.bias.data[...] = ref.out_proj.bias.detach().numpy()
    q, k, v = randn(2, 3, 6, seed=1), randn(2, 4, 6, seed=2), randn(2, 4, 6, seed=3)
    padding = np.array([[False, False, True, True], [False, False, False, True]])
    ours = attn(q, k, v, key_padding_mask=padding)
    theirs, _ = ref(*(torch.from_numpy(t.data) for t in (q, k, v)),
                    key_padding_mask=torch.from_numpy(padding))
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12, atol=1e-12)
    # self-attention: the default, the same as passing the query three times
    np.testing.assert_allclose(attn(q, q, q).data, attn(q).data, rtol=0, atol=0)
    same = attn(k, memory=v)
    np.testing.assert_allclose(attn(k, v, v).data, same.data, rtol=0, atol=0)
    params = list(attn.parameters())
    assert minigrad.gradcheck(lambda q, k, v, *_: attn(q, k, v), [q, k, v, *params])


def test_query_key_value_errors():
    attn = MultiHeadAttention(6, 3)
    q, k = minigrad.randn(2, 3, 6), minigrad.randn(2, 4, 6)
    with pytest.raises(ValueError, match="give both key and value"):
        attn(q, k)
    with pytest.raises(ValueError, match="give either key and value or memory, not both"):
        attn(q, k, k, memory=k)
    with pytest.raises(ValueError, match="key and value must have the same length S"):
        attn(q, k, minigrad.randn(2, 5, 6))
    with pytest.raises(ValueError, match=r"value must be \(B, S, d_model\) = \(2, S, 6\)"):
        attn(q, k, minigrad.randn(2, 4, 5))
    with pytest.raises(ValueError, match="causal masking is for self-attention"):
        attn(q, k, k, causal=True)

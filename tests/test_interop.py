"""TransformerBlock against torch.nn.TransformerEncoderLayer, through transformer.interop, in
float64: outputs, input gradients and every weight's gradient, with and without masks."""
from __future__ import annotations

import numpy as np
import pytest

import minigrad
from transformer import TransformerBlock
from transformer.interop import block_from_torch, block_to_torch

torch = pytest.importorskip("torch")

D_MODEL, N_HEADS, D_FF, B, T = 8, 2, 12, 3, 5

# minigrad name -> (torch name, which third of the packed in_proj tensor, or None)
WEIGHTS = {
    "attn.q_proj.weight": ("self_attn.in_proj_weight", 0), "attn.q_proj.bias": ("self_attn.in_proj_bias", 0),
    "attn.k_proj.weight": ("self_attn.in_proj_weight", 1), "attn.k_proj.bias": ("self_attn.in_proj_bias", 1),
    "attn.v_proj.weight": ("self_attn.in_proj_weight", 2), "attn.v_proj.bias": ("self_attn.in_proj_bias", 2),
    "attn.out_proj.weight": ("self_attn.out_proj.weight",
                             None), "attn.out_proj.bias": ("self_attn.out_proj.bias", None),
    "ffn.fc1.weight": ("linear1.weight", None), "ffn.fc1.bias": ("linear1.bias", None),
    "ffn.fc2.weight": ("linear2.weight", None), "ffn.fc2.bias": ("linear2.bias", None),
    "norm1.weight": ("norm1.weight", None), "norm1.bias": ("norm1.bias", None),
    "norm2.weight": ("norm2.weight", None), "norm2.bias": ("norm2.bias", None),
}


def torch_layer(norm_first, dtype=torch.float64):
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(
        D_MODEL, N_HEADS, D_FF, dropout=0.0, activation="gelu", batch_first=True, norm_first=norm_first,
        dtype=dtype)
    with torch.no_grad():  # LayerNorm starts at (1, 0): move it so its gradients are not special
        for norm in (layer.norm1, layer.norm2):
            norm.weight.add_(0.3 * torch.randn_like(norm.weight))
            norm.bias.add_(0.3 * torch.randn_like(norm.bias))
    return layer


def torch_piece(layer, name, third):
    t = layer.get_parameter(name).grad.numpy()
    return t if third is None else np.split(t, 3)[third]


MASKS = {
    "none": (False, None),
    "causal": (True, None),
    # last: all padding
    "padding": (False, np.array([[False] * 5, [False, False, False, True, True], [True] * 5])),
    "causal_padding": (True,
                       np.array([[True, False, False, False, False], [False] * 4 + [True], [False] * 5])),
}


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_ln", "pre_ln"])
@pytest.mark.parametrize("mask", MASKS.values(), ids=MASKS.keys())
def test_block_matches_torch_encoder_layer(norm_first, mask):
    causal, padding = mask
    layer = torch_layer(norm_first)
    block = block_from_torch(layer)
    assert block.attn.q_proj.weight.dtype == np.float64

    x = np.random.default_rng(1).standard_normal((B, T, D_MODEL))
    grad_out = np.random.default_rng(2).standard_normal((B, T, D_MODEL))

    xt = torch.tensor(x, requires_grad=True)
    src_mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1) if causal else None
    kpm = torch.from_numpy(padding) if padding is not None else None
    yt = layer(xt, src_mask=src_mask, src_key_padding_mask=kpm)
    yt.backward(torch.from_numpy(grad_out))

    xm = minigrad.tensor(x, requires_grad=True)
    ym = block(xm, causal=causal, key_padding_mask=padding)
    ym.backward(grad_out)

    np.testing.assert_allclose(ym.data, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xm.grad.data, xt.grad.numpy(), rtol=1e-9, atol=1e-11)
    grads = dict(block.named_parameters())
    assert set(grads) == set(WEIGHTS)
    for name, (torch_name, third) in WEIGHTS.items():
        np.testing.assert_allclose(grads[name].grad.data, torch_piece(layer, torch_name, third),
                                   rtol=1e-9, atol=1e-11, err_msg=name)


@pytest.mark.parametrize("norm_first", [False, True])
def test_block_to_torch_round_trip(norm_first):
    minigrad.manual_seed(0)
    block = TransformerBlock(D_MODEL, N_HEADS, D_FF, norm_first=norm_first).to(np.float64)
    layer = block_to_torch(block)
    assert layer.norm_first == norm_first and layer.self_attn.in_proj_weight.dtype == torch.float64
    x = np.random.default_rng(0).standard_normal((B, T, D_MODEL))
    layer.train()  # the reference (non-fused) path
    with torch.no_grad():
        expected = layer(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(block(minigrad.tensor(x)).data, expected, rtol=1e-10, atol=1e-12)
    back = block_from_torch(layer)
    for name, value in block.state_dict().items():
        assert np.array_equal(back.state_dict()[name], value), name


def test_dtype_follows_the_torch_layer():
    block = block_from_torch(torch_layer(False, dtype=torch.float32))
    assert all(p.dtype == np.float32 for p in block.parameters())
    assert block_to_torch(block).linear1.weight.dtype == torch.float32


def test_interop_rejects_what_it_cannot_map():
    tanh = torch.nn.TransformerEncoderLayer(D_MODEL, N_HEADS, D_FF, activation=torch.tanh, batch_first=True)
    with pytest.raises(ValueError, match="relu or gelu"):
        block_from_torch(tanh)
    seq_first = torch.nn.TransformerEncoderLayer(D_MODEL, N_HEADS, D_FF, activation="gelu")
    with pytest.raises(ValueError, match="batch_first"):
        block_from_torch(seq_first)
    with pytest.raises(TypeError, match="TransformerEncoderLayer or TransformerDecoderLayer"):
        block_from_torch(torch.nn.Linear(2, 2))
    for options in ({"shared_qk": True}, {"score": "additive"}, {"scale": False}, {"head_dim": 3}):
        with pytest.raises(ValueError, match="standard attention"):
            block_to_torch(TransformerBlock(D_MODEL, N_HEADS, D_FF, **options))


@pytest.mark.parametrize("options", [dict(n_kv_heads=1), dict(rope_theta=10000.0), dict(norm="rmsnorm"),
                                     dict(activation="swiglu"), dict(activation="silu"),
                                     dict(activation="gelu_tanh")],
                         ids=["gqa", "rope", "rmsnorm", "swiglu", "silu", "gelu_tanh"])
def test_block_to_torch_refuses_the_modern_options(options):
    pytest.importorskip("torch")
    from transformer import TransformerBlock
    from transformer.interop import block_to_torch

    with pytest.raises(ValueError, match="PyTorch's layer has"):
        block_to_torch(TransformerBlock(8, 2, 16, **options))

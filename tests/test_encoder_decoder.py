"""TransformerDecoderBlock and EncoderDecoder: gradchecks in float64, and the same function as
torch.nn.TransformerDecoderLayer / torch.nn.Transformer(batch_first=True) — outputs, the
gradients of both inputs and of every parameter — for pre- and post-LN, ReLU and GELU, with
every combination of the causal target mask and the three padding masks; the weight round
trips through transformer.interop; errors for bad shapes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import minigrad
from transformer import EncoderDecoder, TransformerBlock, TransformerDecoderBlock, record_attention
from transformer.decoder import DecoderCache

D_MODEL, N_HEADS, D_FF, B, S, T = 8, 2, 12, 3, 5, 4


def randn(*shape, seed=0):
    return minigrad.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


SRC_PADDING = np.array([[False] * 5, [False, False, False, True, True], [False, True, True, True, True]])
TGT_PADDING = np.array(
    [[False] * 4, [False, False, False, True], [True, False, False, False]]
)  # row 2: query 0 blind
MASKS = list(itertools.product([False, True], repeat=4))  # tgt_causal and the three padding masks, on or off
MASK_IDS = [
    "".join(name for name, on in zip(("causal-", "src-", "tgt-", "mem-"), m) if on) or "none" for m in MASKS
]


# ----- gradchecks ----------------------------------------------------------------------------------
@pytest.mark.parametrize("norm_first", [False, True], ids=["post_ln", "pre_ln"])
def test_decoder_block_gradcheck_wrt_target_memory_and_parameters(norm_first):
    minigrad.manual_seed(0)
    block = TransformerDecoderBlock(4, 2, 6, norm_first=norm_first, activation="gelu").to(np.float64)
    x, memory = randn(2, 3, 4, seed=1), randn(2, 5, 4, seed=2)
    padding = SRC_PADDING[:2]
    params = list(block.parameters())
    assert minigrad.gradcheck(
        lambda x, m, *_: block(x, m, memory_key_padding_mask=padding), [x, memory, *params]
    )


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_decoder_gradcheck(activation):
    minigrad.manual_seed(0)
    model = EncoderDecoder(4, 2, 1, 1, 6, dropout=0.0, activation=activation).to(np.float64)
    src, tgt = randn(2, 5, 4, seed=1), randn(2, 3, 4, seed=2)
    padding = SRC_PADDING[:2]
    params = list(model.parameters())
    assert minigrad.gradcheck(
        lambda s, t, *_: model(s, t, src_key_padding_mask=padding, memory_key_padding_mask=padding),
        [src, tgt, *params],
    )


# ----- against PyTorch -----------------------------------------------------------------------------
def torch_transformer(torch, norm_first, activation, dtype=None):
    torch.manual_seed(0)
    module = torch.nn.Transformer(
        D_MODEL,
        N_HEADS,
        2,
        2,
        D_FF,
        dropout=0.0,
        activation=activation,
        batch_first=True,
        norm_first=norm_first,
        dtype=dtype or torch.float64,
    )
    with torch.no_grad():  # LayerNorms start at (1, 0): move them so their gradients are not special
        for m in module.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.add_(0.3 * torch.randn_like(m.weight))
                m.bias.add_(0.3 * torch.randn_like(m.bias))
    return module


@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("norm_first", [False, True], ids=["post_ln", "pre_ln"])
@pytest.mark.parametrize("masks", MASKS, ids=MASK_IDS)
def test_encoder_decoder_matches_torch_transformer(masks, norm_first, activation):
    torch = pytest.importorskip("torch")
    from transformer.interop import encoder_decoder_from_torch, torch_names

    causal, src_pad, tgt_pad, mem_pad = masks
    reference = torch_transformer(torch, norm_first, activation)
    reference.train()  # the reference (non-fused) path; dropout is 0
    model = encoder_decoder_from_torch(reference)
    assert all(p.dtype == np.float64 for p in model.parameters())

    rng = np.random.default_rng(1)
    src, tgt, grad_out = (
        rng.standard_normal(shape) for shape in ((B, S, D_MODEL), (B, T, D_MODEL), (B, T, D_MODEL))
    )
    masks_np = {
        "src_key_padding_mask": SRC_PADDING if src_pad else None,
        "tgt_key_padding_mask": TGT_PADDING if tgt_pad else None,
        "memory_key_padding_mask": SRC_PADDING if mem_pad else None,
    }

    st, tt = torch.tensor(src, requires_grad=True), torch.tensor(tgt, requires_grad=True)
    yt = reference(
        st,
        tt,
        tgt_mask=torch.triu(torch.ones(T, T, dtype=torch.bool), 1) if causal else None,
        **{k: None if v is None else torch.from_numpy(v) for k, v in masks_np.items()},
    )
    yt.backward(torch.from_numpy(grad_out))

    sm, tm = minigrad.tensor(src, requires_grad=True), minigrad.tensor(tgt, requires_grad=True)
    ym = model(sm, tm, tgt_causal=causal, **masks_np)
    ym.backward(grad_out)

    np.testing.assert_allclose(ym.data, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sm.grad.data, st.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(tm.grad.data, tt.grad.numpy(), rtol=1e-9, atol=1e-11)
    names = torch_names(model)
    params = dict(model.named_parameters())
    assert set(params) == set(names) and len({t for t, _ in names.values()}) == len(
        dict(reference.named_parameters())
    )
    for name, (torch_name, third) in names.items():
        expected = reference.get_parameter(torch_name).grad.numpy()
        expected = expected if third is None else np.split(expected, 3)[third]
        np.testing.assert_allclose(params[name].grad.data, expected, rtol=1e-9, atol=1e-11, err_msg=name)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("norm_first", [False, True], ids=["post_ln", "pre_ln"])
def test_decoder_block_matches_torch_decoder_layer(norm_first, activation):
    torch = pytest.importorskip("torch")
    from transformer.interop import block_from_torch

    torch.manual_seed(0)
    layer = torch.nn.TransformerDecoderLayer(
        D_MODEL,
        N_HEADS,
        D_FF,
        dropout=0.0,
        activation=activation,
        batch_first=True,
        norm_first=norm_first,
        dtype=torch.float64,
    )
    block = block_from_torch(layer)
    assert isinstance(block, TransformerDecoderBlock) and block.norm_first == norm_first
    rng = np.random.default_rng(2)
    x, memory = rng.standard_normal((B, T, D_MODEL)), rng.standard_normal((B, S, D_MODEL))
    xt, mt = torch.tensor(x, requires_grad=True), torch.tensor(memory, requires_grad=True)
    yt = layer(
        xt,
        mt,
        tgt_mask=torch.triu(torch.ones(T, T, dtype=torch.bool), 1),
        memory_key_padding_mask=torch.from_numpy(SRC_PADDING),
    )
    yt.sum().backward()
    xm, mm = minigrad.tensor(x, requires_grad=True), minigrad.tensor(memory, requires_grad=True)
    ym = block(xm, mm, memory_key_padding_mask=SRC_PADDING)
    ym.sum().backward()
    np.testing.assert_allclose(ym.data, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xm.grad.data, xt.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(mm.grad.data, mt.grad.numpy(), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_of_either_activation_round_trips(activation):
    torch = pytest.importorskip("torch")
    from transformer.interop import block_from_torch, block_to_torch

    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(
        D_MODEL, N_HEADS, D_FF, dropout=0.0, activation=activation, batch_first=True, dtype=torch.float64
    )
    block = block_from_torch(layer)
    assert isinstance(block, TransformerBlock)
    x = np.random.default_rng(0).standard_normal((B, S, D_MODEL))
    with torch.no_grad():
        expected = layer.train()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(block(minigrad.tensor(x)).data, expected, rtol=1e-10, atol=1e-12)
    back = block_to_torch(block)
    assert back.activation_relu_or_gelu == (1 if activation == "relu" else 2)
    for name, value in layer.state_dict().items():
        assert torch.equal(back.state_dict()[name], value), name


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_ln", "pre_ln"])
def test_encoder_decoder_to_torch_round_trip(norm_first):
    torch = pytest.importorskip("torch")
    from transformer.interop import block_to_torch, encoder_decoder_from_torch, encoder_decoder_to_torch

    minigrad.manual_seed(0)
    model = EncoderDecoder(
        D_MODEL, N_HEADS, 2, 1, D_FF, dropout=0.0, activation="gelu", norm_first=norm_first
    ).to(np.float64)
    model.decoder.norm.eps = 1e-6
    reference = encoder_decoder_to_torch(model)
    assert reference.decoder.norm.eps == 1e-6 and len(reference.encoder.layers) == 2
    rng = np.random.default_rng(0)
    src, tgt = rng.standard_normal((B, S, D_MODEL)), rng.standard_normal((B, T, D_MODEL))
    reference.train()
    with torch.no_grad():
        expected = reference(
            torch.from_numpy(src),
            torch.from_numpy(tgt),
            tgt_mask=torch.triu(torch.ones(T, T, dtype=torch.bool), 1),
            src_key_padding_mask=torch.from_numpy(SRC_PADDING),
            memory_key_padding_mask=torch.from_numpy(SRC_PADDING),
        ).numpy()
    got = model(
        minigrad.tensor(src),
        minigrad.tensor(tgt),
        src_key_padding_mask=SRC_PADDING,
        memory_key_padding_mask=SRC_PADDING,
    ).data
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    back = encoder_decoder_from_torch(reference)
    assert back.decoder.norm.eps == 1e-6
    for name, value in model.state_dict().items():
        assert np.array_equal(back.state_dict()[name], value), name
    layer = block_to_torch(model.decoder.layers[0])
    assert isinstance(layer, torch.nn.TransformerDecoderLayer)
    for name, value in layer.state_dict().items():
        assert torch.equal(reference.decoder.layers[0].state_dict()[name], value), name


def test_interop_rejects_what_it_cannot_map():
    torch = pytest.importorskip("torch")
    from transformer.interop import (
        block_from_torch,
        block_to_torch,
        encoder_decoder_from_torch,
        encoder_decoder_to_torch,
    )

    with pytest.raises(ValueError, match="batch_first"):
        block_from_torch(torch.nn.TransformerDecoderLayer(D_MODEL, N_HEADS, D_FF))
    with pytest.raises(ValueError, match="relu or gelu"):
        block_from_torch(
            torch.nn.TransformerDecoderLayer(D_MODEL, N_HEADS, D_FF, activation=torch.tanh, batch_first=True)
        )
    with pytest.raises(TypeError, match="torch.nn.Transformer"):
        encoder_decoder_from_torch(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="batch_first"):
        encoder_decoder_from_torch(torch.nn.Transformer(D_MODEL, N_HEADS, 1, 1, D_FF))
    with pytest.raises(TypeError, match="EncoderDecoder"):
        encoder_decoder_to_torch(TransformerBlock(D_MODEL, N_HEADS, D_FF))
    with pytest.raises(ValueError, match="standard attention"):
        encoder_decoder_to_torch(EncoderDecoder(D_MODEL, N_HEADS, 1, 1, D_FF, shared_qk=True))
    with pytest.raises(ValueError, match="standard attention"):
        block_to_torch(TransformerDecoderBlock(D_MODEL, N_HEADS, D_FF, score="additive"))


# ----- cached decoding and errors --------------------------------------------------------------------
def test_decoding_step_by_step_with_caches_equals_the_full_pass():
    minigrad.manual_seed(0)
    model = EncoderDecoder(D_MODEL, N_HEADS, 2, 2, D_FF, dropout=0.0).to(np.float64)
    src, tgt = randn(B, S, D_MODEL, seed=1), randn(B, T, D_MODEL, seed=2)
    full = model(src, tgt, src_key_padding_mask=SRC_PADDING, memory_key_padding_mask=SRC_PADDING).data
    memory = model.encode(src, SRC_PADDING)
    caches = model.decoder.new_caches()
    assert all(isinstance(c, DecoderCache) for c in caches) and len(caches) == 2
    steps = [
        model.decode(tgt[:, t : t + 1], memory, memory_key_padding_mask=SRC_PADDING, caches=caches).data
        for t in range(T)
    ]
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=1e-12, atol=1e-12)
    assert caches[0].self_attn.length == T and caches[0].cross_attn.length == S


def test_cross_attention_weights_are_recorded_per_layer():
    minigrad.manual_seed(0)
    model = EncoderDecoder(D_MODEL, N_HEADS, 1, 2, D_FF, dropout=0.0)
    with record_attention(model):
        model(randn(B, S, D_MODEL), randn(B, T, D_MODEL))
    assert model.encoder.layers[0].attn.attn_weights.shape == (B, N_HEADS, S, S)
    for layer in model.decoder.layers:
        assert layer.attn.attn_weights.shape == (B, N_HEADS, T, T)
        assert layer.cross_attn.attn_weights.shape == (B, N_HEADS, T, S)
        assert np.all(
            np.triu(layer.attn.attn_weights[0, 0], 1) == 0
        )  # the decoder's self-attention is causal


def test_encoder_decoder_errors_name_the_shapes():
    model = EncoderDecoder(D_MODEL, N_HEADS, 1, 1, D_FF)
    src, tgt = randn(2, S, D_MODEL), randn(2, T, D_MODEL)
    with pytest.raises(ValueError, match=r"src of shape \(B, L, d_model=8\), got \(2, 5, 6\)"):
        model(randn(2, S, 6), tgt)
    with pytest.raises(ValueError, match=r"tgt of shape \(B, L, d_model=8\), got \(2, 4, 6\)"):
        model(src, randn(2, T, 6))
    with pytest.raises(ValueError, match=r"same batch size.*\(2, 5, 8\).*\(3, 4, 8\)"):
        model(src, randn(3, T, D_MODEL))
    with pytest.raises(
        ValueError, match=r"src_key_padding_mask must be a bool array of shape \(2, 5\).*\(2, 4\)"
    ):
        model(src, tgt, src_key_padding_mask=np.zeros((2, 4), dtype=bool))
    with pytest.raises(ValueError, match=r"memory_key_padding_mask .*\(2, 5\).*int64 of shape \(2, 5\)"):
        model(src, tgt, memory_key_padding_mask=np.zeros((2, 5), dtype=np.int64))
    with pytest.raises(ValueError, match=r"tgt_key_padding_mask .*\(2, 4\).*\(2, 5\)"):
        model(src, tgt, tgt_key_padding_mask=np.zeros((2, 5), dtype=bool))
    with pytest.raises(ValueError, match="activation='tanh'"):
        TransformerDecoderBlock(D_MODEL, N_HEADS, D_FF, activation="tanh")

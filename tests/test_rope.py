"""Rotary position embeddings: against a reference written from the RoFormer paper's formula,
against Hugging Face's Llama rotary code, gradchecked, and the relative-position property."""
import numpy as np
import pytest

import minigrad
from transformer.rope import RotaryEmbedding, rope_angles


def roformer_reference(x_interleaved: np.ndarray, theta: float) -> np.ndarray:
    """RoFormer (Su et al. 2021), eq. 15: the vector at position m is multiplied by the block
    diagonal matrix R_m whose i-th 2x2 block rotates the pair (x_2i, x_2i+1) by m * theta_i,
    theta_i = theta ** (-2 (i - 1) / d) for i = 1 .. d/2. Written as the matrix, position by
    position, in float64."""
    *_, T, d = x_interleaved.shape
    out = np.empty_like(x_interleaved)
    for m in range(T):
        R = np.zeros((d, d))
        for i in range(d // 2):
            angle = m * theta ** (-2 * i / d)
            c, s = np.cos(angle), np.sin(angle)
            R[2 * i: 2 * i + 2, 2 * i: 2 * i + 2] = [[c, -s], [s, c]]
        out[..., m, :] = x_interleaved[..., m, :] @ R.T
    return out


def halves_to_pairs(d: int) -> np.ndarray:
    """The feature order that lists our pairs (i, i + d/2) as the paper's neighbours (2i, 2i+1)."""
    return np.stack([np.arange(d // 2), np.arange(d // 2) + d // 2], axis=1).reshape(-1)


@pytest.mark.parametrize("head_dim, theta", [(8, 10000.0), (6, 500.0), (2, 10.0)])
def test_rotation_equals_the_roformer_formula(head_dim, theta):
    rope = RotaryEmbedding(head_dim, max_len=16, theta=theta)
    x = np.random.default_rng(0).standard_normal((2, 3, 11, head_dim))
    ours = rope(minigrad.tensor(x)).data
    order = halves_to_pairs(head_dim)
    expected = roformer_reference(x[..., order], theta)
    np.testing.assert_allclose(ours[..., order], expected, rtol=1e-12, atol=1e-12)


def test_scores_depend_only_on_the_distance():
    rope = RotaryEmbedding(16, max_len=12)
    rng = np.random.default_rng(1)
    q = np.broadcast_to(rng.standard_normal(16), (1, 1, 12, 16))  # the same vector at every position
    k = np.broadcast_to(rng.standard_normal(16), (1, 1, 12, 16))
    scores = (rope(minigrad.tensor(q)) @ rope(minigrad.tensor(k)).transpose(-2, -1)).data[0, 0]  # (12, 12)
    for distance in range(-11, 12):
        diagonal = np.diagonal(scores, offset=distance)
        np.testing.assert_allclose(diagonal, diagonal[0], rtol=1e-10)
    assert not np.allclose(np.diagonal(scores, 0)[0], np.diagonal(scores, 3)[0])


def test_offset_continues_the_positions():
    rope = RotaryEmbedding(4, max_len=10)
    x = minigrad.tensor(np.random.default_rng(2).standard_normal((1, 2, 7, 4)))
    np.testing.assert_allclose(rope(x[:, :, 4:], offset=4).data, rope(x).data[:, :, 4:], rtol=1e-14)


def test_position_ids_rotate_each_row_by_its_own_positions():
    rope = RotaryEmbedding(4, max_len=10)
    x = minigrad.tensor(np.random.default_rng(5).standard_normal((2, 3, 4, 4)), requires_grad=True)
    positions = np.array([[0, 1, 2, 3], [0, 0, 5, 6]])  # the second row: padding, then from 5
    out = rope(x, position_ids=positions).data
    np.testing.assert_allclose(out[:1], rope(x[:1]).data, rtol=1e-14)
    np.testing.assert_allclose(out[1:, :, 2:], rope(x[1:, :, 2:], offset=5).data, rtol=1e-14)
    assert minigrad.gradcheck(lambda x: rope(x, position_ids=positions), [x])


def test_gradcheck():
    rope = RotaryEmbedding(6, max_len=5)
    x = minigrad.tensor(np.random.default_rng(3).standard_normal((2, 2, 5, 6)), requires_grad=True)
    assert minigrad.gradcheck(lambda x: rope(x, offset=0), [x])
    y = minigrad.tensor(np.random.default_rng(4).standard_normal((1, 1, 2, 6)), requires_grad=True)
    assert minigrad.gradcheck(lambda y: rope(y, offset=3), [y])


def test_tables_are_not_state_and_take_the_input_dtype():
    rope = RotaryEmbedding(4, max_len=3)
    assert rope.state_dict() == {} and list(rope.parameters()) == []
    assert rope.cos.shape == rope.sin.shape == (3, 4)
    np.testing.assert_array_equal(rope.cos, np.cos(rope_angles(3, 4)))
    assert rope(minigrad.zeros(1, 1, 3, 4)).dtype == np.float32
    assert rope(minigrad.tensor(np.zeros((1, 1, 3, 4)))).dtype == np.float64
    assert "theta=10000" in repr(rope)


def test_errors():
    with pytest.raises(ValueError, match="head_dim must be even"):
        RotaryEmbedding(5, max_len=4)
    with pytest.raises(ValueError, match="theta must be greater than 1"):
        RotaryEmbedding(4, max_len=4, theta=1.0)
    rope = RotaryEmbedding(4, max_len=4)
    with pytest.raises(ValueError, match="positions up to 5 need max_len > 5, this table has max_len=4"):
        rope(minigrad.zeros(1, 1, 2, 4), offset=4)


def test_matches_hugging_face_llama_rotary():
    pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    theta, head_dim, T = 500.0, 8, 9
    config = LlamaConfig(hidden_size=16, num_attention_heads=2, rope_theta=theta, max_position_embeddings=32)
    if getattr(config, "rope_parameters", None) is not None:  # transformers >= 5 keeps it here
        config.rope_parameters["rope_theta"] = theta
    hf_rope = LlamaRotaryEmbedding(config)
    rng = np.random.default_rng(5)
    q, k = rng.standard_normal((2, 1, 2, T, head_dim)).astype(np.float32)
    positions = torch.arange(T)[None]
    cos, sin = hf_rope(torch.from_numpy(q), positions)
    hf_q, hf_k = apply_rotary_pos_emb(torch.from_numpy(q), torch.from_numpy(k), cos, sin)
    ours = RotaryEmbedding(head_dim, max_len=32, theta=theta)
    np.testing.assert_allclose(ours(minigrad.tensor(q)).data, hf_q.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours(minigrad.tensor(k)).data, hf_k.numpy(), rtol=1e-5, atol=1e-5)

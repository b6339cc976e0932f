"""Rotary position embeddings (RoPE; Su et al., "RoFormer", 2021).

Instead of adding a position vector to the token, RoPE turns each query and key: the d_k
features form d_k / 2 pairs, and the pair i of the vector at position m is rotated by the
angle m * theta_i, with theta_i = rope_theta ** (-2i / d_k). Rotations compose, so

    rotate(q, m) . rotate(k, n) = q . rotate(k, n - m)

and the attention score depends on how far apart two tokens are, not on where they stand.
Nothing is learned and nothing is added to the residual stream.

Pairs: feature i goes with feature i + d_k / 2 (the two halves of the vector), the layout of
Hugging Face's Llama; RoFormer's paper pairs neighbours (2i, 2i + 1). The two are the same
rotation with the features listed in another order (tests/test_rope.py checks both).

    rotate(x, m) = x * cos(m theta) + rotate_half(x) * sin(m theta),  rotate_half([a, b]) = [-b, a]
"""
from __future__ import annotations

import numpy as np

import minigrad
from minigrad import Tensor, nn


def rope_angles(positions: int, head_dim: int, theta: float = 10000.0) -> np.ndarray:
    """m * theta_i for m < positions and i < head_dim / 2, repeated for both halves:
    (positions, head_dim), float64."""
    inv_freq = theta ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)  # (d/2,)
    angles = np.arange(positions, dtype=np.float64)[:, None] * inv_freq[None, :]  # (P, d/2)
    return np.concatenate([angles, angles], axis=-1)  # (P, d)


class RotaryEmbedding(nn.Module):
    """Rotates queries or keys (B, h, T, d_k) by their positions. The cos and sin tables,
    (max_len, d_k), are plain float64 arrays like the sinusoidal position table: not trained,
    not saved, rebuilt from the config, cast to the input's dtype when used (so a model cast
    to float64 and back never rounds them)."""

    def __init__(self, head_dim: int, max_len: int, theta: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"RotaryEmbedding: head_dim must be even (features are rotated in pairs), "
                             f"got {head_dim}")
        if theta <= 1.0:
            raise ValueError(f"RotaryEmbedding: theta must be greater than 1, got {theta}")
        self.head_dim, self.max_len, self.theta = head_dim, max_len, float(theta)
        angles = rope_angles(max_len, head_dim, self.theta)
        self.cos, self.sin = np.cos(angles), np.sin(angles)  # (max_len, d_k) each

    def forward(self, x: Tensor, offset: int = 0, position_ids: np.ndarray | None = None) -> Tensor:
        """x (B, h, T, d_k) at positions offset .. offset + T - 1 -> the rotated x, same shape.
        `position_ids` (B, T) integers in [0, max_len), when given, are each token's position
        instead (a left-padded batch's rows count from their first real token)."""
        T = x.shape[-2]
        if position_ids is not None:
            cos = self.cos[position_ids][:, None].astype(x.dtype, copy=False)  # (B, 1, T, d_k)
            sin = self.sin[position_ids][:, None].astype(x.dtype, copy=False)  # (B, 1, T, d_k)
        elif offset + T > self.max_len:
            raise ValueError(f"RotaryEmbedding: positions up to {offset + T - 1} need max_len > "
                             f"{offset + T - 1}, this table has max_len={self.max_len}")
        else:
            cos = self.cos[offset: offset + T].astype(x.dtype, copy=False)  # (T, d_k)
            sin = self.sin[offset: offset + T].astype(x.dtype, copy=False)  # (T, d_k)
        half = self.head_dim // 2
        rotated_half = minigrad.cat([-x[..., half:], x[..., :half]], dim=-1)  # [-b, a]
        return x * cos + rotated_half * sin

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, max_len={self.max_len}, theta={self.theta:g}"

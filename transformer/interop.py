"""Weights to and from PyTorch's reference layer, torch.nn.TransformerEncoderLayer.

PyTorch packs the three input projections into one matrix: `self_attn.in_proj_weight` is
(3 d_model, d_model) with the rows of W_q, W_k, W_v stacked in that order, and `in_proj_bias`
likewise; everything else maps one to one:

    torch                               minigrad TransformerBlock
    self_attn.in_proj_weight[0:d]       attn.q_proj.weight    (and [d:2d] k_proj, [2d:3d] v_proj)
    self_attn.out_proj                  attn.out_proj
    linear1, linear2                    ffn.fc1, ffn.fc2
    norm1, norm2                        norm1, norm2

torch is imported inside the functions, so `transformer` works without it.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .attention import DotScore
from .block import TransformerBlock


def _numpy_dtype(torch_dtype: Any) -> np.dtype:
    import torch

    return torch.empty((), dtype=torch_dtype).numpy().dtype


def block_from_torch(layer: Any) -> TransformerBlock:
    """A TransformerBlock computing what `layer` computes, a copy of its weights in its dtype.

    `layer` must be a torch.nn.TransformerEncoderLayer built with batch_first=True,
    activation="gelu" and biases (the default).
    """
    import torch
    import torch.nn.functional as TF

    if not isinstance(layer, torch.nn.TransformerEncoderLayer):
        raise TypeError("block_from_torch: expected a torch.nn.TransformerEncoderLayer, got "
                        f"{type(layer).__name__}")
    attn = layer.self_attn
    if not attn.batch_first:
        raise ValueError("block_from_torch: the layer must be built with batch_first=True")
    if not (layer.activation is TF.gelu
            or isinstance(layer.activation, torch.nn.GELU) and layer.activation.approximate == "none"):
        raise ValueError(f"block_from_torch: the layer must use activation='gelu', got {layer.activation}")
    if attn.in_proj_bias is None or layer.linear1.bias is None or layer.norm1.bias is None:
        raise ValueError("block_from_torch: the layer must have biases (bias=True)")
    if attn.in_proj_weight is None:
        raise ValueError("block_from_torch: the layer's attention must use one packed in_proj_weight (kdim "
                         "= vdim = d_model)")

    d_model = attn.embed_dim
    block = TransformerBlock(
        d_model, attn.num_heads, layer.linear1.out_features, dropout=layer.dropout.p,
        norm_first=layer.norm_first)
    block.to(_numpy_dtype(attn.in_proj_weight.dtype))
    block.norm1.eps, block.norm2.eps = layer.norm1.eps, layer.norm2.eps

    def array(t: Any) -> np.ndarray:
        return t.detach().cpu().numpy()

    w_q, w_k, w_v = np.split(array(attn.in_proj_weight), 3)  # (3d, d) -> three (d, d)
    b_q, b_k, b_v = np.split(array(attn.in_proj_bias), 3)
    block.load_state_dict({
        "attn.q_proj.weight": w_q, "attn.q_proj.bias": b_q,
        "attn.k_proj.weight": w_k, "attn.k_proj.bias": b_k,
        "attn.v_proj.weight": w_v, "attn.v_proj.bias": b_v,
        "attn.out_proj.weight": array(attn.out_proj.weight), "attn.out_proj.bias": array(attn.out_proj.bias),
        "norm1.weight": array(layer.norm1.weight), "norm1.bias": array(layer.norm1.bias),
        "ffn.fc1.weight": array(layer.linear1.weight), "ffn.fc1.bias": array(layer.linear1.bias),
        "ffn.fc2.weight": array(layer.linear2.weight), "ffn.fc2.bias": array(layer.linear2.bias),
        "norm2.weight": array(layer.norm2.weight), "norm2.bias": array(layer.norm2.bias),
    })
    return block


def block_to_torch(block: TransformerBlock) -> Any:
    """A torch.nn.TransformerEncoderLayer(batch_first=True, activation="gelu") with a copy of
    `block`'s weights, in the block's dtype. Only the standard attention maps onto PyTorch's:
    scaled dot-product scores, separate Q and K, head_dim = d_model / n_heads."""
    import torch

    attn = block.attn
    if (attn.k_proj is None or not isinstance(attn.score, DotScore)
            or attn.score.scale != 1.0 / math.sqrt(attn.head_dim)
            or attn.head_dim * attn.n_heads != attn.d_model):
        raise ValueError(
            "block_to_torch: PyTorch's layer has only the standard attention "
            "(score='dot', scale=True, shared_qk=False, head_dim=d_model // n_heads)"
        )
    if attn.q_proj.bias is None:
        raise ValueError("block_to_torch: the block must have biases (bias=True)")

    weight = attn.q_proj.weight.data
    layer = torch.nn.TransformerEncoderLayer(
        attn.d_model, attn.n_heads, block.ffn.fc1.weight.shape[0], dropout=block.dropout1.p,
        activation="gelu", layer_norm_eps=block.norm1.eps, batch_first=True, norm_first=block.norm_first,
        dtype=getattr(torch, weight.dtype.name),
    )
    if block.norm2.eps != block.norm1.eps:
        layer.norm2.eps = block.norm2.eps
    state = block.state_dict()

    def tensor(*names: str) -> Any:
        return torch.from_numpy(np.concatenate([state[n] for n in names]))

    layer.load_state_dict({
        "self_attn.in_proj_weight": tensor("attn.q_proj.weight", "attn.k_proj.weight", "attn.v_proj.weight"),
        "self_attn.in_proj_bias": tensor("attn.q_proj.bias", "attn.k_proj.bias", "attn.v_proj.bias"),
        "self_attn.out_proj.weight": tensor("attn.out_proj.weight"),
        "self_attn.out_proj.bias": tensor("attn.out_proj.bias"),
        "linear1.weight": tensor("ffn.fc1.weight"), "linear1.bias": tensor("ffn.fc1.bias"),
        "linear2.weight": tensor("ffn.fc2.weight"), "linear2.bias": tensor("ffn.fc2.bias"),
        "norm1.weight": tensor("norm1.weight"), "norm1.bias": tensor("norm1.bias"),
        "norm2.weight": tensor("norm2.weight"), "norm2.bias": tensor("norm2.bias"),
    })
    return layer

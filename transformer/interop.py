"""Weights to and from PyTorch's reference layers: torch.nn.TransformerEncoderLayer,
TransformerDecoderLayer and the whole torch.nn.Transformer.

PyTorch packs the three input projections of an attention into one matrix: `in_proj_weight`
is (3 d_model, d_model) with the rows of W_q, W_k, W_v stacked in that order, and
`in_proj_bias` likewise; everything else maps one to one:

    torch                                   minigrad
    TransformerEncoderLayer                 TransformerBlock
      self_attn.in_proj_weight[0:d]           attn.q_proj.weight  (and [d:2d] k_proj, [2d:3d] v_proj)
      self_attn.out_proj                      attn.out_proj
      linear1, linear2                        ffn.fc1, ffn.fc2
      norm1, norm2                            norm1, norm2
    TransformerDecoderLayer                 TransformerDecoderBlock
      self_attn, multihead_attn               attn, cross_attn (each packed as above)
      linear1, linear2                        ffn.fc1, ffn.fc2
      norm1, norm2, norm3                     norm1, norm2, norm3
    Transformer                             EncoderDecoder
      encoder.layers.i, decoder.layers.i      encoder.layers.i, decoder.layers.i (the layers above)
      encoder.norm, decoder.norm              encoder.norm, decoder.norm

`torch_names(module)` is that table for one minigrad module, entry by entry; the four
conversions below read it one way or the other. The activation ("relu" or "gelu") and the
LayerNorms' eps travel with the layer. torch is imported inside the functions, so
`transformer` works without it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minigrad import nn

from .attention import DotScore, MultiHeadAttention
from .block import TransformerBlock
from .decoder import TransformerDecoderBlock
from .encoder_decoder import EncoderDecoder

PROJECTIONS = ("q_proj", "k_proj", "v_proj")  # their order in PyTorch's packed in_proj

# minigrad attention -> torch attention, and minigrad linear or norm -> torch, per kind of layer
LAYER_NAMES: dict[type, tuple[dict[str, str], dict[str, str]]] = {
    TransformerBlock: (
        {"attn": "self_attn"},
        {"ffn.fc1": "linear1", "ffn.fc2": "linear2", "norm1": "norm1", "norm2": "norm2"},
    ),
    TransformerDecoderBlock: (
        {"attn": "self_attn", "cross_attn": "multihead_attn"},
        {"ffn.fc1": "linear1", "ffn.fc2": "linear2", "norm1": "norm1", "norm2": "norm2", "norm3": "norm3"},
    ),
}


def torch_names(
    module: TransformerBlock | TransformerDecoderBlock | EncoderDecoder,
) -> dict[str, tuple[str, int | None]]:
    """minigrad parameter name -> (PyTorch parameter name, which third of a packed in_proj
    tensor or None), for every parameter of `module`."""
    if isinstance(module, EncoderDecoder):
        table = {}
        for stack in ("encoder", "decoder"):
            for i, layer in enumerate(getattr(module, stack).layers):
                prefix = f"{stack}.layers.{i}."
                table.update(
                    {prefix + k: (prefix + t, third) for k, (t, third) in torch_names(layer).items()}
                )
            for p in ("weight", "bias"):
                table[f"{stack}.norm.{p}"] = (f"{stack}.norm.{p}", None)
        return table
    attentions, plain = LAYER_NAMES[type(module)]
    table = {}
    for ours, theirs in attentions.items():
        for third, proj in enumerate(PROJECTIONS):
            table[f"{ours}.{proj}.weight"] = (f"{theirs}.in_proj_weight", third)
            table[f"{ours}.{proj}.bias"] = (f"{theirs}.in_proj_bias", third)
        table[f"{ours}.out_proj.weight"] = (f"{theirs}.out_proj.weight", None)
        table[f"{ours}.out_proj.bias"] = (f"{theirs}.out_proj.bias", None)
    for ours, theirs in plain.items():
        for p in ("weight", "bias"):
            table[f"{ours}.{p}"] = (f"{theirs}.{p}", None)
    return table


def _numpy_dtype(torch_dtype: Any) -> np.dtype:
    import torch

    return torch.empty((), dtype=torch_dtype).numpy().dtype


def _activation_name(layer: Any, op: str) -> str:
    """ "relu" or "gelu" for a torch layer's activation (a function or a module)."""
    import torch
    import torch.nn.functional as TF

    act = layer.activation
    if act is TF.relu or isinstance(act, torch.nn.ReLU):
        return "relu"
    if act is TF.gelu or isinstance(act, torch.nn.GELU) and act.approximate == "none":
        return "gelu"
    raise ValueError(f"{op}: the layer's activation must be relu or gelu (exact), got {act}")


def _check_torch_layer(layer: Any, op: str) -> None:
    """What the mapping needs of a torch encoder or decoder layer, or an error saying what is missing."""
    attentions = [layer.self_attn] + ([layer.multihead_attn] if hasattr(layer, "multihead_attn") else [])
    for attn in attentions:
        if not attn.batch_first:
            raise ValueError(f"{op}: the layer must be built with batch_first=True")
        if attn.in_proj_weight is None:
            raise ValueError(
                f"{op}: the layer's attention must use one packed in_proj_weight (kdim = vdim = d_model)"
            )
        if attn.in_proj_bias is None:
            raise ValueError(f"{op}: the layer must have biases (bias=True)")
    if layer.linear1.bias is None or layer.norm1.bias is None:
        raise ValueError(f"{op}: the layer must have biases (bias=True)")


def _from_torch_state(module: nn.Module, torch_module: Any) -> None:
    """Copy the weights of `torch_module` into `module` (already built to the same sizes and
    converted to its dtype) through `torch_names`."""
    theirs = {k: v.detach().cpu().numpy() for k, v in torch_module.state_dict().items()}
    state = {}
    for name, (torch_name, third) in torch_names(module).items():
        array = theirs[torch_name]
        state[name] = array if third is None else np.split(array, 3)[third]
    module.load_state_dict(state)


def _to_torch_state(module: nn.Module) -> dict[str, Any]:
    """`module`'s weights under PyTorch's names, with the packed in_proj tensors joined."""
    import torch

    ours = module.state_dict()
    pieces: dict[str, list[tuple[int, np.ndarray]]] = {}
    for name, (torch_name, third) in torch_names(module).items():
        pieces.setdefault(torch_name, []).append((third or 0, ours[name]))
    return {
        k: torch.from_numpy(np.concatenate([a for _, a in sorted(parts, key=lambda p: p[0])]))
        for k, parts in pieces.items()
    }


def _copy_eps(torch_module: Any, module: nn.Module, to_torch: bool = False) -> None:
    """Give each LayerNorm the eps of its counterpart (found through `torch_names`), from
    torch to minigrad or, with `to_torch`, back."""
    submodules = dict(module.named_modules())
    for name, (torch_name, _) in torch_names(module).items():
        ours = submodules[name.rsplit(".", 1)[0]]
        if isinstance(ours, nn.LayerNorm) and name.endswith(".weight"):
            theirs = torch_module.get_submodule(torch_name.rsplit(".", 1)[0])
            if to_torch:
                theirs.eps = ours.eps
            else:
                ours.eps = theirs.eps


def block_from_torch(layer: Any) -> TransformerBlock | TransformerDecoderBlock:
    """A minigrad layer computing what `layer` computes, with a copy of its weights in its dtype:
    a TransformerBlock for a torch.nn.TransformerEncoderLayer, a TransformerDecoderBlock for a
    torch.nn.TransformerDecoderLayer. The layer must be built with batch_first=True and biases
    (the default), its activation relu (the default) or gelu."""
    import torch

    kinds = {
        torch.nn.TransformerEncoderLayer: TransformerBlock,
        torch.nn.TransformerDecoderLayer: TransformerDecoderBlock,
    }
    if type(layer) not in kinds:
        raise TypeError(
            "block_from_torch: expected a torch.nn.TransformerEncoderLayer or TransformerDecoderLayer, "
            f"got {type(layer).__name__}"
        )
    _check_torch_layer(layer, "block_from_torch")
    attn = layer.self_attn
    block = kinds[type(layer)](
        attn.embed_dim,
        attn.num_heads,
        layer.linear1.out_features,
        dropout=layer.dropout.p,
        norm_first=layer.norm_first,
        activation=_activation_name(layer, "block_from_torch"),
    )
    block.to(_numpy_dtype(attn.in_proj_weight.dtype))
    _copy_eps(layer, block)
    _from_torch_state(block, layer)
    return block


def _check_standard(module: nn.Module, op: str) -> None:
    """Only the standard attention maps onto PyTorch's."""
    for attn in (m for m in module.modules() if isinstance(m, MultiHeadAttention)):
        if (
            attn.k_proj is None
            or not isinstance(attn.score, DotScore)
            or attn.score.scale != 1.0 / math.sqrt(attn.head_dim)
            or attn.head_dim * attn.n_heads != attn.d_model
        ):
            raise ValueError(
                f"{op}: PyTorch's layer has only the standard attention "
                "(score='dot', scale=True, shared_qk=False, head_dim=d_model // n_heads)"
            )
        if attn.q_proj.bias is None:
            raise ValueError(f"{op}: the block must have biases (bias=True)")
        if attn.n_kv_heads != attn.n_heads or attn.rotary is not None:
            raise ValueError(f"{op}: PyTorch's layer has neither grouped-query heads (n_kv_heads) nor "
                             "rotary positions (pos_encoding='rope')")
    for block in (m for m in module.modules() if isinstance(m, (TransformerBlock, TransformerDecoderBlock))):
        norms = [m for name, m in block.named_children() if name.startswith("norm")]
        if not all(isinstance(n, nn.LayerNorm) for n in norms):
            raise ValueError(f"{op}: PyTorch's layer has LayerNorm only, not norm='rmsnorm'")
        act = getattr(block.ffn, "act", None)
        if not isinstance(act, (nn.ReLU, nn.GELU)) or getattr(act, "approximate", "none") != "none":
            raise ValueError(f"{op}: PyTorch's layer has a relu or (exact) gelu feed-forward, "
                             f"not {type(block.ffn).__name__} with {type(act).__name__}")


def _activation_of(block: TransformerBlock | TransformerDecoderBlock) -> str:
    return "relu" if isinstance(block.ffn.act, nn.ReLU) else "gelu"


def block_to_torch(block: TransformerBlock | TransformerDecoderBlock) -> Any:
    """A torch.nn.TransformerEncoderLayer (for a TransformerBlock) or TransformerDecoderLayer
    (for a TransformerDecoderBlock), batch_first=True, with a copy of `block`'s weights in its
    dtype and its activation. Only the standard attention maps onto PyTorch's: scaled
    dot-product scores, separate Q and K, head_dim = d_model / n_heads."""
    import torch

    kinds = {
        TransformerBlock: torch.nn.TransformerEncoderLayer,
        TransformerDecoderBlock: torch.nn.TransformerDecoderLayer,
    }
    if type(block) not in kinds:
        raise TypeError(
            "block_to_torch: expected a TransformerBlock or TransformerDecoderBlock, "
            f"got {type(block).__name__}"
        )
    _check_standard(block, "block_to_torch")
    attn = block.attn
    layer = kinds[type(block)](
        attn.d_model,
        attn.n_heads,
        block.ffn.fc1.weight.shape[0],
        dropout=block.dropout1.p,
        activation=_activation_of(block),
        batch_first=True,
        norm_first=block.norm_first,
        dtype=getattr(torch, attn.q_proj.weight.dtype.name),
    )
    _copy_eps(layer, block, to_torch=True)
    layer.load_state_dict(_to_torch_state(block))
    return layer


def encoder_decoder_from_torch(module: Any) -> EncoderDecoder:
    """An EncoderDecoder computing what the torch.nn.Transformer `module` computes (built with
    batch_first=True, both final norms, relu or gelu layers), a copy of its weights in its dtype."""
    import torch

    op = "encoder_decoder_from_torch"
    if not isinstance(module, torch.nn.Transformer):
        raise TypeError(f"{op}: expected a torch.nn.Transformer, got {type(module).__name__}")
    encoder_layers, decoder_layers = module.encoder.layers, module.decoder.layers
    if module.encoder.norm is None or module.decoder.norm is None:
        raise ValueError(f"{op}: the model must have the final encoder and decoder norms")
    first = encoder_layers[0]
    for layer in [*encoder_layers, *decoder_layers]:
        _check_torch_layer(layer, op)
        if (
            _activation_name(layer, op) != _activation_name(first, op)
            or layer.norm_first != first.norm_first
            or layer.linear1.out_features != first.linear1.out_features
        ):
            raise ValueError(
                f"{op}: every layer must have the same activation, norm_first and feed-forward width"
            )
    attn = first.self_attn
    model = EncoderDecoder(
        attn.embed_dim,
        attn.num_heads,
        len(encoder_layers),
        len(decoder_layers),
        first.linear1.out_features,
        first.dropout.p,
        _activation_name(first, op),
        first.norm_first,
    )
    model.to(_numpy_dtype(attn.in_proj_weight.dtype))
    _copy_eps(module, model)
    _from_torch_state(model, module)
    return model


def encoder_decoder_to_torch(model: EncoderDecoder) -> Any:
    """A torch.nn.Transformer(batch_first=True) with a copy of `model`'s weights in its dtype."""
    import torch

    if not isinstance(model, EncoderDecoder):
        raise TypeError(f"encoder_decoder_to_torch: expected an EncoderDecoder, got {type(model).__name__}")
    _check_standard(model, "encoder_decoder_to_torch")
    first = model.encoder.layers[0] if len(model.encoder.layers) else model.decoder.layers[0]
    attn = first.attn
    module = torch.nn.Transformer(
        attn.d_model,
        attn.n_heads,
        len(model.encoder.layers),
        len(model.decoder.layers),
        first.ffn.fc1.weight.shape[0],
        first.dropout1.p,
        _activation_of(first),
        batch_first=True,
        norm_first=first.norm_first,
        dtype=getattr(torch, attn.q_proj.weight.dtype.name),
    )
    _copy_eps(module, model, to_torch=True)
    module.load_state_dict(_to_torch_state(model))
    return module

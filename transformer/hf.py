"""Hugging Face checkpoint folders in and out: run GPT-2, the Llama family (Llama, Mistral,
Qwen2) and BERT with minigrad, look inside them, and write them back for `transformers`.

    model = load_pretrained("gpt2-folder")          # config.json + model.safetensors
    logits, loss = model(ids)                       # equal to GPT2LMHeadModel(ids).logits
    save_pretrained(model, "out-folder")            # GPT2LMHeadModel.from_pretrained reads it

A folder is what `save_pretrained` of `transformers` writes: `config.json` and the weights as
`model.safetensors`, or as shards listed by `model.safetensors.index.json`. The safetensors
files are read here: an 8-byte header length, a JSON header giving each tensor's dtype, shape
and byte range, then the bytes. Every header entry, shape and key is checked against the
config before the model is built, so a bad or hostile file is a one-line error naming the key,
and never makes the loader allocate more than the file holds. The model is then built without
initializing its parameters (`nn.skip_init`) and each tensor is copied from a memory map of the
file straight into its parameter: loading holds the model and, at most, one tensor's pages.
Writing uses the optional `safetensors` package (`pip install -e ".[hf]"`), imported only
when called; `load_tokenizer` (transformer/hf_tokenizer.py) likewise needs `tokenizers`.

The names of the two sides are mapped by one table per model type (`GPT2_NAMES`); GPT-2
stores its attention's query, key and value projections as one matrix, `c_attn`, and every
projection transposed (its `Conv1D` computes x @ W + b), which the mapping undoes.
"""
from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterator, Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

import minigrad
from minigrad import nn
from minigrad.atomic import atomic_write

from .bert import BertLM
from .config import TransformerConfig
from .hf_tokenizer import Tokenizer, load_tokenizer
from .model import TransformerLM

__all__ = ["load_pretrained", "save_pretrained", "load_tokenizer", "Tokenizer", "text_loss"]

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
SUPPORTED_MODEL_TYPES = ("gpt2", "bert", "llama", "mistral", "qwen2")  # the keys of LOADERS
MAX_HEADER_BYTES = 100 * 2**20  # the safetensors format's own limit on its JSON header

# safetensors dtype names -> numpy; BF16 has no numpy dtype and is widened to float32 on reading.
FILE_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16,
               "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8,
               "BOOL": np.bool_}
NARROW_FLOATS = ("F16", "BF16")  # converted to float32 (numpy cannot compute in bf16, f16 is slow)

# GPT-2 names: minigrad's TransformerLM name (with {i} for the block) -> the checkpoint's name.
# The attention's q/k/v come from one `attn.c_attn` and are handled apart (see _gpt2_from_file).
GPT2_NAMES = {
    "tok_emb.weight": "wte.weight",
    "pos_emb.weight": "wpe.weight",
    "blocks.{i}.norm1.weight": "h.{i}.ln_1.weight",
    "blocks.{i}.norm1.bias": "h.{i}.ln_1.bias",
    "blocks.{i}.attn.out_proj.weight": "h.{i}.attn.c_proj.weight",
    "blocks.{i}.attn.out_proj.bias": "h.{i}.attn.c_proj.bias",
    "blocks.{i}.norm2.weight": "h.{i}.ln_2.weight",
    "blocks.{i}.norm2.bias": "h.{i}.ln_2.bias",
    "blocks.{i}.ffn.fc1.weight": "h.{i}.mlp.c_fc.weight",
    "blocks.{i}.ffn.fc1.bias": "h.{i}.mlp.c_fc.bias",
    "blocks.{i}.ffn.fc2.weight": "h.{i}.mlp.c_proj.weight",
    "blocks.{i}.ffn.fc2.bias": "h.{i}.mlp.c_proj.bias",
    "norm.weight": "ln_f.weight",
    "norm.bias": "ln_f.bias",
}
# The options of today's models, which GPT-2 leaves at their defaults.
GPT2_MODERN_DEFAULTS = {"norm": "layernorm", "bias": True, "n_kv_heads": None}
GPT2_PREFIX = "transformer."  # GPT2LMHeadModel's names; a bare GPT2Model's have none
GPT2_IGNORED = (".attn.bias", ".attn.masked_bias")  # constant causal masks some old files hold
# GPT-2's activation_function -> TransformerConfig.activation
GPT2_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu_fast": "gelu_tanh",
                    "gelu": "gelu", "relu": "relu"}


# ----- safetensors, read -------------------------------------------------------------------

class SafetensorsFile:
    """One safetensors file, its header checked: `entries` maps each key to (dtype name, shape,
    byte offset in the file, byte count); `read(key)` reads one tensor."""

    def __init__(self, path: Path) -> None:
        self.path = path
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise ValueError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
            n = int.from_bytes(head, "little")
            if n > min(MAX_HEADER_BYTES, size - 8):
                raise ValueError(f"{path}: header length {n} exceeds the file ({size} bytes)")
            try:
                header = json.loads(f.read(n))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise ValueError(f"{path}: the safetensors header is not JSON ({e})") from None
        if not isinstance(header, dict):
            raise ValueError(f"{path}: the safetensors header is not a JSON object")
        header.pop("__metadata__", None)
        start = 8 + n
        self.entries: dict[str, Entry] = {}
        for key, entry in header.items():
            name = current_name(key)
            if name in self.entries:
                raise ValueError(f"{path}: tensor {name!r} is stored twice (as {key!r} too)")
            self.entries[name] = _check_entry(path, key, entry, start, size)

    def read(self, key: str) -> np.ndarray:
        """One tensor as a read-only memory map of the file (little-endian, the file's dtype):
        copying it into a parameter touches each page once, and dropping it unmaps them."""
        dtype_name, shape, offset, count = self.entries[key]
        dtype = np.dtype(FILE_DTYPES[dtype_name]).newbyteorder("<")
        if count == 0:
            return np.empty(shape, dtype=dtype)
        return np.memmap(self.path, dtype=dtype, mode="r", offset=offset, shape=shape)


Entry = tuple[str, tuple[int, ...], int, int]  # dtype name, shape, byte offset in the file, byte count
# Old files (the first BERT checkpoints, converted as they were) name a LayerNorm's scale and
# shift gamma and beta, as TensorFlow did; transformers renames them on loading, and so do we.
OLD_NORM_NAMES = {"LayerNorm.gamma": "LayerNorm.weight", "LayerNorm.beta": "LayerNorm.bias"}


def current_name(key: str) -> str:
    """A tensor's name as today's transformers writes it (LayerNorm gamma/beta -> weight/bias)."""
    for old, new in OLD_NORM_NAMES.items():
        if key.endswith(old):
            return key[: -len(old)] + new
    return key


def _check_entry(path: Path, key: str, entry: Any, start: int, size: int) -> Entry:
    """One header entry as (dtype, shape, offset, count), or a ValueError naming the key."""
    if not (isinstance(entry, dict) and isinstance(entry.get("dtype"), str)
            and isinstance(entry.get("shape"), list) and isinstance(entry.get("data_offsets"), list)):
        raise ValueError(f"{path}: tensor {key!r} needs dtype, shape and data_offsets in the header")
    dtype_name, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype_name not in FILE_DTYPES:
        raise TypeError(f"{path}: tensor {key!r} has dtype {dtype_name}, not one of {tuple(FILE_DTYPES)}")
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise ValueError(f"{path}: tensor {key!r} has a bad shape {shape}")
    if not (len(offsets) == 2 and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            and 0 <= offsets[0] <= offsets[1] <= size - start):
        raise ValueError(f"{path}: tensor {key!r} has data_offsets {offsets} outside the file's "
                         f"{size - start} data bytes")
    count = offsets[1] - offsets[0]
    expected = math.prod(shape) * np.dtype(FILE_DTYPES[dtype_name]).itemsize
    if count != expected:
        raise ValueError(f"{path}: tensor {key!r} of shape {tuple(shape)} and dtype {dtype_name} needs "
                         f"{expected} bytes, its data_offsets give {count}")
    return dtype_name, tuple(shape), start + offsets[0], count


class Weights:
    """The tensors of a checkpoint folder, from one file or from the shards of its index."""

    def __init__(self, folder: Path) -> None:
        single, index = folder / WEIGHTS_FILE, folder / INDEX_FILE
        if single.is_file():
            files = [SafetensorsFile(single)]
        elif index.is_file():
            files = [SafetensorsFile(folder / name) for name in _shard_names(index)]
        else:
            raise FileNotFoundError(f"{folder}: no {WEIGHTS_FILE} or {INDEX_FILE} (only safetensors "
                                    "weights are read)")
        self.where: dict[str, SafetensorsFile] = {}
        for f in files:
            for key in f.entries:
                if key in self.where:
                    raise ValueError(f"{folder}: tensor {key!r} is in two shards")
                self.where[key] = f

    def shape(self, key: str) -> tuple[int, ...]:
        return self.where[key].entries[key][1]

    def dtype_name(self, key: str) -> str:
        return self.where[key].entries[key][0]

    def read(self, key: str, dtype: np.dtype) -> np.ndarray:
        """One tensor as a float array of `dtype` (bfloat16 widened first): a memory map of the
        file when it holds `dtype` already, else a converted copy."""
        array = self.where[key].read(key)
        if self.dtype_name(key) == "BF16":  # the high half of a float32: shift the 16 bits into place
            array = (array.astype(np.uint32) << 16).view(np.float32)
        return array.astype(dtype, copy=False)


def _shard_names(index: Path) -> list[str]:
    """The distinct shard file names of an index, each a plain name inside the folder."""
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map")
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as e:
        raise ValueError(f"{index}: not a JSON object with a weight_map ({e})") from None
    if not isinstance(weight_map, dict):
        raise ValueError(f"{index}: weight_map must be a JSON object of tensor name -> file name")
    names = sorted(set(weight_map.values()), key=str)
    for name in names:
        if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
            raise ValueError(f"{index}: shard {name!r} must be a file name inside the folder")
    return names


# ----- loading ---------------------------------------------------------------------------

def read_config(folder: Path) -> dict[str, Any]:
    """The folder's config.json as a dict, or an error saying what is wrong with it."""
    if not folder.is_dir():
        raise FileNotFoundError(f"load_pretrained: {folder} is not a folder")
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"load_pretrained: {folder} has no {CONFIG_FILE} (expected a folder "
                                "written by save_pretrained)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"load_pretrained: {path} is not JSON ({e})") from None
    if not isinstance(config, dict):
        raise ValueError(f"load_pretrained: {path} must hold a JSON object")
    model_type = config.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ValueError(f"load_pretrained: model_type {model_type!r} in {path} is not supported "
                         f"(supported: {', '.join(SUPPORTED_MODEL_TYPES)})")
    return config


def load_pretrained(path: str | PathLike, dtype: Any = None) -> TransformerLM | BertLM:
    """The model of a Hugging Face checkpoint folder (config.json + safetensors weights).

    model_type "gpt2" gives a `TransformerLM` whose `model(ids)` logits equal
    `GPT2LMHeadModel(ids).logits`; "llama", "mistral" and "qwen2" a `TransformerLM` of
    `TransformerConfig.llama`'s layout; "bert" a `BertLM` (masked-LM logits from `model(ids)`
    when the checkpoint has the head, hidden states from `model.encode(ids)`, the pooled
    output from `model.pool(hidden)` when it has a pooler). `dtype=None` keeps the file's
    float dtype (float32 or float64); float16 and bfloat16 weights become float32, with a
    warning saying so.
    """
    folder = Path(path)
    hf_config = read_config(folder)
    weights = Weights(folder)
    model, tensors = LOADERS[hf_config["model_type"]](hf_config, weights, dtype)
    parameters = dict(model.named_parameters())  # a tied head is the embedding: filled once
    for name, array in tensors:  # one tensor at a time: the model plus one tensor in memory
        parameters.pop(name).data[...] = array
    if parameters:
        raise ValueError(f"load_pretrained: nothing in the checkpoint fills {next(iter(parameters))!r}")
    return model


def check_weights(shapes: Mapping[str, tuple[int, ...]], weights: Weights, ignored: tuple[str, ...] = (),
                  sizes: str = "the sizes") -> None:
    """That the files hold exactly the tensors `shapes` names (file key -> shape), apart from
    keys ending in `ignored`; each fault is a ValueError naming the key, and a config that
    needs more than the files hold is refused before anything is allocated."""
    for key in shapes:
        if key not in weights.where:
            raise ValueError(f"load_pretrained: weight {key!r} is missing from the checkpoint")
    needed = sum(math.prod(s) for s in shapes.values())
    held = sum(math.prod(weights.shape(k)) for k in weights.where)
    if needed > held:
        raise ValueError(f"load_pretrained: the config needs {needed} weights but the files hold only "
                         f"{held} ({sizes} too large?)")
    for key, shape in shapes.items():
        if weights.shape(key) != shape:
            raise ValueError(f"load_pretrained: weight {key!r} has shape {weights.shape(key)}, the config "
                             f"needs {shape}")
    for key in weights.where:
        if key not in shapes and not key.endswith(ignored):
            raise ValueError(f"load_pretrained: unexpected weight {key!r} in the checkpoint")


Tensors = Iterator[tuple[str, np.ndarray]]  # (parameter name, its array), one at a time


def _load_gpt2(hf: Mapping[str, Any], weights: Weights, dtype: Any) -> tuple[TransformerLM, Tensors]:
    config = gpt2_config(hf)
    names = gpt2_names(config, weights)
    model_dtype = _float_dtype(weights, names.values(), dtype)
    model = nn.skip_init(TransformerLM, config).to(model_dtype)
    return model, gpt2_tensors_in(config, weights, names, model_dtype)


def _float_dtype(weights: Weights, keys: Any, dtype: Any) -> np.dtype:
    """The model's dtype: `dtype`, or the file's float dtype (narrow floats -> float32)."""
    found = {weights.dtype_name(k) for k in keys}
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"load_pretrained: dtype must be float32 or float64, got {dtype}")
        return dtype
    narrow = found & set(NARROW_FLOATS)
    if narrow:
        warnings.warn(f"load_pretrained: the weights are {'/'.join(sorted(narrow))}; minigrad computes in "
                      "float32, so they are converted to float32", stacklevel=3)
        return np.dtype(np.float32)
    if found - {"F32", "F64"}:
        raise TypeError(f"load_pretrained: the weights have dtypes {sorted(found)}, expected floats")
    return np.dtype(np.float64 if found == {"F64"} else np.float32)


def _config_int(hf: Mapping[str, Any], key: str, default: Any = None) -> int:
    value = hf.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"load_pretrained: config.json's {key}={value!r} must be a positive integer")
    return value


def gpt2_config(hf: Mapping[str, Any]) -> TransformerConfig:
    """The TransformerConfig of a GPT-2 config.json: pre-LN, learned positions, GPT-2's
    activation, no head bias, the head tied to the embedding unless the config says not."""
    for key, value in (("scale_attn_by_inverse_layer_idx", False), ("add_cross_attention", False)):
        if hf.get(key, False) != value:
            raise ValueError(f"load_pretrained: config.json's {key}={hf[key]!r} is not supported")
    activation = hf.get("activation_function", "gelu_new")
    if activation not in GPT2_ACTIVATIONS:
        raise ValueError(f"load_pretrained: activation_function {activation!r} is not supported "
                         f"(supported: {', '.join(GPT2_ACTIVATIONS)})")
    n_inner = hf.get("n_inner")
    return TransformerConfig(
        vocab_size=_config_int(hf, "vocab_size", 50257),
        max_len=_config_int(hf, "n_positions", 1024),
        d_model=_config_int(hf, "n_embd", 768),
        n_heads=_config_int(hf, "n_head", 12),
        n_layers=_config_int(hf, "n_layer", 12),
        d_ff=None if n_inner is None else _config_int(hf, "n_inner"),
        norm_first=True,
        pos_encoding="learned",
        causal=True,
        scale=bool(hf.get("scale_attn_weights", True)),
        activation=GPT2_ACTIVATIONS[activation],
        layer_norm_eps=float(hf.get("layer_norm_epsilon", 1e-5)),
        tie_embeddings=bool(hf.get("tie_word_embeddings", True)),
        head_bias=False,
    )


def gpt2_shapes(c: TransformerConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor a GPT-2 checkpoint of config `c` holds (names without the prefix), with
    its shape in the file (projections are (in, out))."""
    d, f = c.d_model, c.ff_dim
    shapes: dict[str, tuple[int, ...]] = {"wte.weight": (c.vocab_size, d), "wpe.weight": (c.max_len, d),
                                          "ln_f.weight": (d,), "ln_f.bias": (d,)}
    per_block = {"ln_1.weight": (d,), "ln_1.bias": (d,), "attn.c_attn.weight": (d, 3 * d),
                 "attn.c_attn.bias": (3 * d,), "attn.c_proj.weight": (d, d), "attn.c_proj.bias": (d,),
                 "ln_2.weight": (d,), "ln_2.bias": (d,), "mlp.c_fc.weight": (d, f), "mlp.c_fc.bias": (f,),
                 "mlp.c_proj.weight": (f, d), "mlp.c_proj.bias": (d,)}
    for i in range(c.n_layers):
        shapes.update({f"h.{i}.{k}": s for k, s in per_block.items()})
    if not c.tie_embeddings:
        shapes["lm_head.weight"] = (c.vocab_size, d)
    return shapes


def gpt2_names(c: TransformerConfig, weights: Weights) -> dict[str, str]:
    """GPT-2 name -> the file's key for every tensor the config needs, after checking that
    the file holds exactly these with these shapes (`check_weights`)."""
    shapes = gpt2_shapes(c)
    prefix = GPT2_PREFIX if any(k.startswith(GPT2_PREFIX) for k in weights.where) else ""
    names = {name: (name if name == "lm_head.weight" else prefix + name) for name in shapes}
    check_weights({names[n]: s for n, s in shapes.items()}, weights, GPT2_IGNORED,
                  "vocab_size, n_embd, n_layer, n_positions or n_inner")
    return names


def _is_projection(name: str) -> bool:
    """Whether a TransformerLM weight is a projection that GPT-2's Conv1D stores transposed."""
    return name.endswith("weight") and (".attn." in name or ".ffn." in name)


def gpt2_tensors_in(c: TransformerConfig, weights: Weights, names: Mapping[str, str],
                    dtype: np.dtype) -> Tensors:
    """The TransformerLM parameters of a checked GPT-2 checkpoint, (name, array) one at a time."""
    def read(name: str) -> np.ndarray:
        return weights.read(names[name], dtype)

    d = c.d_model
    for ours, theirs in GPT2_NAMES.items():
        if "{i}" not in ours:
            yield ours, read(theirs)
    for i in range(c.n_layers):
        for ours, theirs in GPT2_NAMES.items():
            if "{i}" in ours:
                value = read(theirs.format(i=i))
                yield ours.format(i=i), value.T if _is_projection(ours) else value
        w, b = read(f"h.{i}.attn.c_attn.weight"), read(f"h.{i}.attn.c_attn.bias")  # (d, 3d), (3d,)
        for j, part in enumerate(("q_proj", "k_proj", "v_proj")):
            yield f"blocks.{i}.attn.{part}.weight", w[:, j * d:(j + 1) * d].T
            yield f"blocks.{i}.attn.{part}.bias", b[j * d:(j + 1) * d]
    if not c.tie_embeddings:
        yield "head.weight", read("lm_head.weight")


# ----- BERT ------------------------------------------------------------------------------

# BertLM name -> the checkpoint's (without the "bert." prefix of BertForMaskedLM); no transposes.
BERT_NAMES = {
    "tok_emb.weight": "embeddings.word_embeddings.weight",
    "pos_emb.weight": "embeddings.position_embeddings.weight",
    "type_emb.weight": "embeddings.token_type_embeddings.weight",
    "emb_norm.weight": "embeddings.LayerNorm.weight",
    "emb_norm.bias": "embeddings.LayerNorm.bias",
    **{f"blocks.{{i}}.{ours}.{p}": f"encoder.layer.{{i}}.{theirs}.{p}" for ours, theirs in (
        ("attn.q_proj", "attention.self.query"), ("attn.k_proj", "attention.self.key"),
        ("attn.v_proj", "attention.self.value"), ("attn.out_proj", "attention.output.dense"),
        ("norm1", "attention.output.LayerNorm"), ("ffn.fc1", "intermediate.dense"),
        ("ffn.fc2", "output.dense"), ("norm2", "output.LayerNorm")) for p in ("weight", "bias")},
}
BERT_POOLER = {"pooler.weight": "pooler.dense.weight", "pooler.bias": "pooler.dense.bias"}
BERT_MLM = {"mlm_dense.weight": "cls.predictions.transform.dense.weight",  # never prefixed
            "mlm_dense.bias": "cls.predictions.transform.dense.bias",
            "mlm_norm.weight": "cls.predictions.transform.LayerNorm.weight",
            "mlm_norm.bias": "cls.predictions.transform.LayerNorm.bias",
            "head.bias": "cls.predictions.bias"}
BERT_PREFIX = "bert."
# The next-sentence head of BertForPreTraining, a copy of the MLM bias, a constant position table.
BERT_IGNORED = ("cls.seq_relationship.weight", "cls.seq_relationship.bias", "cls.predictions.decoder.bias",
                "embeddings.position_ids")
BERT_ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "relu": "relu"}


def bert_config(hf: Mapping[str, Any]) -> tuple[TransformerConfig, int]:
    """The TransformerConfig and the number of token types of a BERT config.json."""
    for key in ("is_decoder", "add_cross_attention"):
        if hf.get(key, False):
            raise ValueError(f"load_pretrained: config.json's {key}={hf[key]!r} is not supported")
    if hf.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(f"load_pretrained: position_embedding_type {hf['position_embedding_type']!r} is not "
                         "supported (supported: absolute)")
    activation = hf.get("hidden_act", "gelu")
    if activation not in BERT_ACTIVATIONS:
        raise ValueError(f"load_pretrained: hidden_act {activation!r} is not supported (supported: "
                         f"{', '.join(BERT_ACTIVATIONS)})")
    config = TransformerConfig(
        vocab_size=_config_int(hf, "vocab_size", 30522),
        max_len=_config_int(hf, "max_position_embeddings", 512),
        d_model=_config_int(hf, "hidden_size", 768),
        n_heads=_config_int(hf, "num_attention_heads", 12),
        n_layers=_config_int(hf, "num_hidden_layers", 12),
        d_ff=_config_int(hf, "intermediate_size", 3072),
        norm_first=False, pos_encoding="learned", causal=False,
        activation=BERT_ACTIVATIONS[activation],
        layer_norm_eps=float(hf.get("layer_norm_eps", 1e-12)),
        tie_embeddings=bool(hf.get("tie_word_embeddings", True)),
        head_bias=True,
    )
    return config, _config_int(hf, "type_vocab_size", 2)


def bert_shapes(c: TransformerConfig, type_vocab_size: int) -> dict[str, tuple[int, ...]]:
    """The shape of every BertLM parameter by name, a block's without its "blocks.{i}."."""
    d, f, v = c.d_model, c.ff_dim, c.vocab_size
    shapes = {"tok_emb.weight": (v, d), "pos_emb.weight": (c.max_len, d),
              "type_emb.weight": (type_vocab_size, d),
              "ffn.fc1.weight": (f, d), "ffn.fc1.bias": (f,), "ffn.fc2.weight": (d, f), "ffn.fc2.bias": (d,),
              "pooler.weight": (d, d), "mlm_dense.weight": (d, d), "head.weight": (v, d), "head.bias": (v,)}
    for part in ("q_proj", "k_proj", "v_proj", "out_proj"):
        shapes[f"attn.{part}.weight"], shapes[f"attn.{part}.bias"] = (d, d), (d,)
    for norm in ("emb_norm", "norm1", "norm2", "mlm_norm"):
        shapes[f"{norm}.weight"], shapes[f"{norm}.bias"] = (d,), (d,)
    shapes["pooler.bias"] = shapes["mlm_dense.bias"] = (d,)
    return shapes


def _load_bert(hf: Mapping[str, Any], weights: Weights, dtype: Any) -> tuple[BertLM, Tensors]:
    config, type_vocab_size = bert_config(hf)
    prefix = BERT_PREFIX if any(k.startswith(BERT_PREFIX) for k in weights.where) else ""
    names = {ours.format(i=i): prefix + theirs.format(i=i) for ours, theirs in BERT_NAMES.items()
             for i in range(config.n_layers if "{i}" in ours else 1)}
    pooler = prefix + BERT_POOLER["pooler.weight"] in weights.where
    mlm_head = BERT_MLM["mlm_dense.weight"] in weights.where
    if pooler:
        names.update({ours: prefix + theirs for ours, theirs in BERT_POOLER.items()})
    if mlm_head:
        names.update(BERT_MLM)
        if not config.tie_embeddings:
            names["head.weight"] = "cls.predictions.decoder.weight"
    shapes = bert_shapes(config, type_vocab_size)
    block_free = {n: n.split(".", 2)[-1] if n.startswith("blocks.") else n for n in names}
    check_weights({k: shapes[block_free[n]] for n, k in names.items()}, weights, BERT_IGNORED,
                  "vocab_size, hidden_size, num_hidden_layers, intermediate_size or max_position_embeddings")
    model_dtype = _float_dtype(weights, names.values(), dtype)
    model = nn.skip_init(BertLM, config, type_vocab_size, mlm_head=mlm_head, pooler=pooler).to(model_dtype)
    return model, ((n, weights.read(k, model_dtype)) for n, k in names.items())

# ----- the Llama family ------------------------------------------------------------------

# TransformerLM name -> LlamaForCausalLM's; Mistral's and Qwen2's names are the same (Qwen2 adds
# the query, key and value biases of QWEN2_BIASES). No transposes.
LLAMA_NAMES = {
    "tok_emb.weight": "model.embed_tokens.weight",
    "norm.weight": "model.norm.weight",
    "blocks.{i}.norm1.weight": "model.layers.{i}.input_layernorm.weight",
    "blocks.{i}.norm2.weight": "model.layers.{i}.post_attention_layernorm.weight",
    "blocks.{i}.attn.q_proj.weight": "model.layers.{i}.self_attn.q_proj.weight",
    "blocks.{i}.attn.k_proj.weight": "model.layers.{i}.self_attn.k_proj.weight",
    "blocks.{i}.attn.v_proj.weight": "model.layers.{i}.self_attn.v_proj.weight",
    "blocks.{i}.attn.out_proj.weight": "model.layers.{i}.self_attn.o_proj.weight",
    "blocks.{i}.ffn.gate_proj.weight": "model.layers.{i}.mlp.gate_proj.weight",
    "blocks.{i}.ffn.up_proj.weight": "model.layers.{i}.mlp.up_proj.weight",
    "blocks.{i}.ffn.down_proj.weight": "model.layers.{i}.mlp.down_proj.weight",
}
QWEN2_BIASES = {f"blocks.{{i}}.attn.{p}.bias": f"model.layers.{{i}}.self_attn.{p}.bias"
                for p in ("q_proj", "k_proj", "v_proj")}
LLAMA_IGNORED = (".rotary_emb.inv_freq",)  # a constant table some old files hold


def _rope_theta(hf: Mapping[str, Any]) -> float:
    """rope_theta from the config (transformers 5 keeps it in rope_parameters), refusing the
    scaled variants (Llama 3.1's "llama3", "linear", "dynamic", "yarn", ...)."""
    rope = hf.get("rope_parameters") or hf.get("rope_scaling") or {}
    if not isinstance(rope, dict):
        raise ValueError(f"load_pretrained: config.json's rope parameters {rope!r} must be a JSON object")
    kind = rope.get("rope_type", rope.get("type", "default"))
    if kind != "default":
        raise ValueError(f"load_pretrained: rope_type {kind!r} is not supported (supported: default)")
    theta = rope.get("rope_theta", hf.get("rope_theta", 10000.0))
    if isinstance(theta, bool) or not isinstance(theta, (int, float)):
        raise ValueError(f"load_pretrained: config.json's rope_theta={theta!r} must be a number")
    return float(theta)


def llama_config(hf: Mapping[str, Any]) -> TransformerConfig:
    """The TransformerConfig of a Llama, Mistral or Qwen2 config.json: `TransformerConfig.llama`
    with the file's sizes, rope_theta, RMSNorm eps, key/value heads and head tying, and for
    Qwen2 the biases of the query, key and value projections."""
    for key in ("attention_bias", "mlp_bias"):
        if hf.get(key, False):
            raise ValueError(f"load_pretrained: config.json's {key}=true is not supported")
    layer_types = hf.get("layer_types") or []
    if any(kind != "full_attention" for kind in layer_types):
        raise ValueError(f"load_pretrained: layer_types {sorted(set(layer_types))} are not supported "
                         "(supported: full_attention)")
    if hf.get("hidden_act", "silu") != "silu":
        raise ValueError(f"load_pretrained: hidden_act {hf['hidden_act']!r} is not supported "
                         "(supported: silu)")
    max_len = _config_int(hf, "max_position_embeddings", 2048)
    window = hf.get("sliding_window") if hf.get("use_sliding_window", True) else None  # Qwen2's switch
    if window is not None and _config_int(hf, "sliding_window") < max_len:
        raise ValueError(f"load_pretrained: sliding_window={window} is not supported (attention here sees "
                         "every earlier position)")
    d, n_heads = _config_int(hf, "hidden_size", 4096), _config_int(hf, "num_attention_heads", 32)
    head_dim = hf.get("head_dim")
    return TransformerConfig.llama(
        vocab_size=_config_int(hf, "vocab_size", 32000), max_len=max_len, d_model=d, n_heads=n_heads,
        n_layers=_config_int(hf, "num_hidden_layers", 32), d_ff=_config_int(hf, "intermediate_size", 11008),
        n_kv_heads=_config_int(hf, "num_key_value_heads", n_heads),
        head_dim=None if head_dim in (None, d // n_heads) else _config_int(hf, "head_dim"),
        rope_theta=_rope_theta(hf), layer_norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
        tie_embeddings=bool(hf.get("tie_word_embeddings", False)), qkv_bias=hf["model_type"] == "qwen2")


def llama_shapes(c: TransformerConfig) -> dict[str, tuple[int, ...]]:
    """The shape of every TransformerLM parameter of a Llama-layout config, a block's without
    its "blocks.{i}."."""
    d, f = c.d_model, c.ff_dim
    hd = c.head_dim or d // c.n_heads
    q, kv = c.n_heads * hd, (c.n_kv_heads or c.n_heads) * hd
    return {"tok_emb.weight": (c.vocab_size, d), "norm.weight": (d,), "head.weight": (c.vocab_size, d),
            "attn.q_proj.bias": (q,), "attn.k_proj.bias": (kv,), "attn.v_proj.bias": (kv,),
            "norm1.weight": (d,), "norm2.weight": (d,), "attn.q_proj.weight": (q, d),
            "attn.k_proj.weight": (kv, d), "attn.v_proj.weight": (kv, d), "attn.out_proj.weight": (d, q),
            "ffn.gate_proj.weight": (f, d), "ffn.up_proj.weight": (f, d), "ffn.down_proj.weight": (d, f)}


def _load_llama(hf: Mapping[str, Any], weights: Weights, dtype: Any) -> tuple[TransformerLM, Tensors]:
    config = llama_config(hf)
    table = {**LLAMA_NAMES, **QWEN2_BIASES} if config.qkv_bias else LLAMA_NAMES
    names = {ours.format(i=i): theirs.format(i=i) for ours, theirs in table.items()
             for i in range(config.n_layers if "{i}" in ours else 1)}
    if not config.tie_embeddings:
        names["head.weight"] = "lm_head.weight"
    shapes = llama_shapes(config)
    block_free = {n: n.split(".", 2)[-1] if n.startswith("blocks.") else n for n in names}
    check_weights({k: shapes[block_free[n]] for n, k in names.items()}, weights, LLAMA_IGNORED,
                  "vocab_size, hidden_size, num_hidden_layers or intermediate_size")
    model_dtype = _float_dtype(weights, names.values(), dtype)
    model = nn.skip_init(TransformerLM, config).to(model_dtype)
    return model, ((n, weights.read(k, model_dtype)) for n, k in names.items())


# model_type -> (model, its parameters' arrays)
LOADERS = {"gpt2": _load_gpt2, "bert": _load_bert, "llama": _load_llama, "mistral": _load_llama,
           "qwen2": _load_llama}


# ----- evaluating --------------------------------------------------------------------------

def text_loss(model: TransformerLM, ids: Any, batch_size: int = 8) -> tuple[float, int]:
    """The mean next-token cross-entropy of a causal LM over a tokenized text (1-D ids), and
    the number of tokens it predicted (len(ids) - 1): the text is cut into consecutive windows
    of max_len tokens, each predicting the token after each of its positions, so a window's
    first tokens see no context from the one before (perplexity = exp(loss)). Runs without a
    graph, in eval mode, `batch_size` windows per forward pass."""
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.dtype.kind not in "iu" or len(ids) < 2:
        raise ValueError(f"text_loss: expected at least 2 integer token ids in a 1-D array, got "
                         f"{ids.dtype} of shape {ids.shape}")
    inputs, targets, w = ids[:-1], ids[1:], model.config.max_len
    full = len(inputs) // w * w
    pieces = [(inputs[:full].reshape(-1, w), targets[:full].reshape(-1, w))]
    if full < len(inputs):
        pieces.append((inputs[None, full:], targets[None, full:]))  # the shorter last window
    total = 0.0
    with minigrad.no_grad(), nn.evaluating(model):
        for x, y in pieces:
            for start in range(0, len(x), batch_size):
                _, loss = model(x[start:start + batch_size], y[start:start + batch_size])
                total += loss.item() * y[start:start + batch_size].size
    return total / len(targets), len(targets)


# ----- saving ----------------------------------------------------------------------------

def gpt2_tensors(c: TransformerConfig, state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """GPT2LMHeadModel's tensors (names with the `transformer.` prefix) from TransformerLM
    arrays by name, the inverse of `gpt2_tensors_in`: the weights, or their gradients."""
    out: dict[str, np.ndarray] = {}
    for i in range(c.n_layers):
        for ours, theirs in GPT2_NAMES.items():
            if "{i}" in ours:
                value = state[ours.format(i=i)]
                out[GPT2_PREFIX + theirs.format(i=i)] = value.T if _is_projection(ours) else value
        parts = [f"blocks.{i}.attn.{p}" for p in ("q_proj", "k_proj", "v_proj")]
        qkv = [state[p + ".weight"].T for p in parts]  # (d, d) each, (in, out) as Conv1D keeps them
        out[f"{GPT2_PREFIX}h.{i}.attn.c_attn.weight"] = np.concatenate(qkv, axis=1)
        out[f"{GPT2_PREFIX}h.{i}.attn.c_attn.bias"] = np.concatenate([state[p + ".bias"] for p in parts])
    for ours, theirs in GPT2_NAMES.items():
        if "{i}" not in ours:
            out[GPT2_PREFIX + theirs] = state[ours]
    if not c.tie_embeddings:
        out["lm_head.weight"] = state["head.weight"]
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def gpt2_hf_config(c: TransformerConfig, dtype: np.dtype) -> dict[str, Any]:
    """The config.json of GPT2LMHeadModel for a GPT-2-shaped TransformerLM, or a ValueError
    naming the first option GPT-2 does not have."""
    layout = {"norm_first": True, "pos_encoding": "learned", "causal": True, "shared_qk": False,
              "score": "dot", "head_dim": None, "head_bias": False, **GPT2_MODERN_DEFAULTS}
    for name, value in layout.items():
        if getattr(c, name) != value:
            raise ValueError(f"save_pretrained: a GPT-2 checkpoint needs {name}={value!r}, the model has "
                             f"{getattr(c, name)!r}")
    activations = {ours: theirs for theirs, ours in reversed(GPT2_ACTIVATIONS.items())}
    if c.activation not in activations:
        raise ValueError(f"save_pretrained: a GPT-2 checkpoint has no activation {c.activation!r} "
                         f"(it has {', '.join(activations)})")
    activation = activations[c.activation]
    return {
        "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"],
        "vocab_size": c.vocab_size, "n_positions": c.max_len, "n_embd": c.d_model, "n_layer": c.n_layers,
        "n_head": c.n_heads, "n_inner": c.d_ff, "activation_function": activation,
        "layer_norm_epsilon": c.layer_norm_eps, "tie_word_embeddings": c.tie_embeddings,
        "scale_attn_weights": c.scale, "resid_pdrop": c.dropout, "embd_pdrop": c.dropout,
        "attn_pdrop": c.dropout, "dtype": str(dtype),
    }


def llama_hf_config(c: TransformerConfig, dtype: np.dtype) -> dict[str, Any]:
    """The config.json of LlamaForCausalLM for a TransformerLM of `TransformerConfig.llama`'s
    layout (Qwen2ForCausalLM's with `qkv_bias`), or a ValueError naming the first option Llama
    does not have."""
    layout = {"norm_first": True, "norm": "rmsnorm", "pos_encoding": "rope", "activation": "swiglu",
              "bias": False, "causal": True, "shared_qk": False, "score": "dot", "scale": True}
    for name, value in layout.items():
        if getattr(c, name) != value:
            raise ValueError(f"save_pretrained: a Llama checkpoint needs {name}={value!r}, the model has "
                             f"{getattr(c, name)!r}")
    model_type, architecture = ("qwen2", "Qwen2ForCausalLM") if c.qkv_bias else ("llama", "LlamaForCausalLM")
    return {
        "model_type": model_type, "architectures": [architecture], "vocab_size": c.vocab_size,
        "max_position_embeddings": c.max_len, "hidden_size": c.d_model, "num_hidden_layers": c.n_layers,
        "num_attention_heads": c.n_heads, "num_key_value_heads": c.n_kv_heads or c.n_heads,
        "head_dim": c.head_dim or c.d_model // c.n_heads, "intermediate_size": c.ff_dim,
        "hidden_act": "silu", "rms_norm_eps": c.layer_norm_eps, "rope_theta": c.rope_theta,
        "tie_word_embeddings": c.tie_embeddings, "attention_bias": False, "mlp_bias": False,
        "attention_dropout": c.dropout, "dtype": str(dtype),
    }


def llama_tensors(c: TransformerConfig, state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """LlamaForCausalLM's tensors from TransformerLM arrays by name (the names of LLAMA_NAMES,
    and of QWEN2_BIASES with `qkv_bias`)."""
    table = {**LLAMA_NAMES, **QWEN2_BIASES} if c.qkv_bias else LLAMA_NAMES
    out = {theirs.format(i=i): state[ours.format(i=i)] for ours, theirs in table.items()
           for i in range(c.n_layers if "{i}" in ours else 1)}
    if not c.tie_embeddings:
        out["lm_head.weight"] = state["head.weight"]
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def bert_hf_config(model: BertLM, dtype: np.dtype) -> dict[str, Any]:
    """The config.json of a BertLM: BertForMaskedLM's with the masked-LM head, else BertModel's."""
    c = model.config
    activations = {ours: theirs for theirs, ours in reversed(BERT_ACTIVATIONS.items())}
    if c.activation not in activations or c.norm != "layernorm" or not c.bias:
        raise ValueError(f"save_pretrained: a BERT checkpoint needs LayerNorm, biases and one of the "
                         f"activations {', '.join(activations)}; the model has norm={c.norm!r}, "
                         f"bias={c.bias}, activation={c.activation!r}")
    return {
        "model_type": "bert", "architectures": ["BertForMaskedLM" if model.mlm_head else "BertModel"],
        "vocab_size": c.vocab_size, "hidden_size": c.d_model, "num_hidden_layers": c.n_layers,
        "num_attention_heads": c.n_heads, "intermediate_size": c.ff_dim,
        "hidden_act": activations[c.activation], "max_position_embeddings": c.max_len,
        "type_vocab_size": model.type_vocab_size, "layer_norm_eps": c.layer_norm_eps,
        "tie_word_embeddings": c.tie_embeddings, "hidden_dropout_prob": c.dropout,
        "attention_probs_dropout_prob": c.dropout, "position_embedding_type": "absolute",
        "dtype": str(dtype),
    }


def bert_tensors(model: BertLM, state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The tensors of BertForMaskedLM (names with the "bert." prefix) or, without the head, of
    BertModel, from BertLM arrays by name: the inverse of `_load_bert`'s names."""
    prefix = BERT_PREFIX if model.mlm_head else ""
    table = {**BERT_NAMES, **(BERT_POOLER if model.pooler is not None else {})}
    out = {prefix + theirs.format(i=i): state[ours.format(i=i)] for ours, theirs in table.items()
           for i in range(model.config.n_layers if "{i}" in ours else 1)}
    if model.mlm_head:
        out.update({theirs: state[ours] for ours, theirs in BERT_MLM.items()})
        if not model.config.tie_embeddings:
            out["cls.predictions.decoder.weight"] = state["head.weight"]
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def save_pretrained(model: TransformerLM | BertLM, path: str | PathLike) -> None:
    """Write `model` as a Hugging Face folder (config.json + model.safetensors) that
    `transformers` loads to the same outputs: a GPT-2-layout TransformerLM for
    `GPT2LMHeadModel`, a `TransformerConfig.llama`-layout one (RMSNorm, rotary positions) for
    `LlamaForCausalLM` (`Qwen2ForCausalLM` with `qkv_bias`), a BertLM for `BertForMaskedLM`
    (with its pooler, which `BertModel` reads from the same folder) or, without the masked-LM
    head, for `BertModel`. Each file is written atomically."""
    if not isinstance(model, (TransformerLM, BertLM)):
        raise TypeError(f"save_pretrained: expected a TransformerLM or a BertLM, got {type(model).__name__}")
    from safetensors.numpy import save  # the optional extra "hf"

    state = model.state_dict()
    dtype = state["tok_emb.weight"].dtype
    if isinstance(model, BertLM):
        config, tensors = bert_hf_config(model, dtype), bert_tensors(model, state)
    elif model.config.norm == "rmsnorm" or model.config.pos_encoding == "rope":
        config, tensors = llama_hf_config(model.config, dtype), llama_tensors(model.config, state)
    else:
        config, tensors = gpt2_hf_config(model.config, dtype), gpt2_tensors(model.config, state)
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_write(folder / WEIGHTS_FILE) as f:
        f.write(save(tensors, metadata={"format": "pt"}))
    with atomic_write(folder / CONFIG_FILE) as f:
        f.write((json.dumps(config, indent=2) + "\n").encode("utf-8"))

"""Pictures of a Seq2SeqTransformer: its three kinds of attention, and its computation graph.

An encoder-decoder attends in three ways, and a picture labels each:

    encoder self-attention     source words (queries) -> source words (keys)       (S, S)
    decoder self-attention     target tokens -> earlier target tokens (masked)     (T, T)
    cross-attention            target tokens (queries) -> source words (keys)      (T, S)

Cross-attention is drawn with the target on the left and the source on the right, each target
row labelled by the token that position writes (its output, the decoder's input shifted left):
the alignment a reader checks by eye, such as "3" looking at "three". The decoder's
self-attention is labelled by the decoder's input tokens (BOS first), on both sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import graphviz
import numpy as np

import minigrad
from minigrad.viz import draw_graph, html

from .attention import record_attention
from .seq2seq import Seq2SeqTransformer
from .seq2seq_config import BOS_ID, EOS_ID
from .viz import COLUMN_GAP, ROW, _attention_graph, _check_threshold, _columns, _heatmap_table, check_weights

KINDS = ("encoder", "decoder", "cross")
TITLES = {
    "encoder": "encoder self-attention (source -> source)",
    "decoder": "decoder self-attention, masked (target -> earlier target)",
    "cross": "cross-attention (target -> source)",
}


@dataclass
class AttentionMap:
    """One attention module's weights on one example: kind (one of KINDS), layer, the module's
    name, weights (h, queries, keys), and the query and key labels."""

    kind: str
    layer: int
    name: str
    weights: np.ndarray
    queries: list[str]
    keys: list[str]


def _one_row(ids: Any, name: str) -> np.ndarray:
    ids = np.asarray(ids.data if isinstance(ids, minigrad.Tensor) else ids)
    ids = ids[0] if ids.ndim == 2 and ids.shape[0] == 1 else ids
    if ids.ndim != 1:
        raise ValueError(
            f"draw_seq2seq_attention: expected the {name} of one example, (L,) or (1, L), "
            f"got shape {ids.shape}"
        )
    return ids


def seq2seq_attention(
    model: Seq2SeqTransformer,
    src_ids: Any,
    tgt_ids: Any = None,
    src_tokens: Sequence[str] | None = None,
    tgt_tokens: Sequence[str] | None = None,
) -> list[AttentionMap]:
    """Run `model` on one example in eval mode without a graph and return every attention's
    weights, encoder layers first, then each decoder layer's self- and cross-attention.

    tgt_ids: the decoder's input (BOS first); default: BOS and the model's greedy target for
    the source, without its EOS (what the decoder read while writing it). src_tokens and
    tgt_tokens label the ids of the source and of the target vocabulary (default: the ids).
    """
    src = _one_row(src_ids, "src_ids")
    if tgt_ids is None:
        written = model.generate(src, model.config.max_len, temperature=0.0)
        end = int(np.argmax(written == EOS_ID)) if (written == EOS_ID).any() else model.config.max_len - 1
        tgt = np.concatenate([[BOS_ID], written[:end]]).astype(np.int64)  # what the decoder read
    else:
        tgt = _one_row(tgt_ids, "tgt_ids")
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with minigrad.no_grad(), record_attention(model):
            logits, _ = model(src[None], tgt[None])
    finally:
        for m, training in modes:
            m.training = training
    written = logits.data[0].argmax(axis=-1)  # what each target position writes

    def label(ids: np.ndarray, tokens: Sequence[str] | None) -> list[str]:
        return [str(i) if tokens is None else str(tokens[int(i)]) for i in ids]

    source, target_in, target_out = label(src, src_tokens), label(tgt, tgt_tokens), label(written, tgt_tokens)
    found = []
    for i, layer in enumerate(model.transformer.encoder.layers):
        found.append(
            AttentionMap(
                "encoder",
                i,
                f"transformer.encoder.layers.{i}.attn",
                layer.attn.attn_weights[0],
                source,
                source,
            )
        )
    for i, layer in enumerate(model.transformer.decoder.layers):
        prefix = f"transformer.decoder.layers.{i}"
        found.append(
            AttentionMap("decoder", i, f"{prefix}.attn", layer.attn.attn_weights[0], target_in, target_in)
        )
        found.append(
            AttentionMap(
                "cross", i, f"{prefix}.cross_attn", layer.cross_attn.attn_weights[0], target_out, source
            )
        )
    return found


def _pick(index: int | None, count: int, what: str) -> list[int]:
    if index is None:
        return list(range(count))
    if not isinstance(index, (int, np.integer)) or not -count <= index < count:
        raise ValueError(f"draw_seq2seq_attention: {what} {index!r} is out of range (there are {count})")
    return [int(index) % count]


def draw_seq2seq_attention(
    model: Seq2SeqTransformer,
    src_ids: Any,
    tgt_ids: Any = None,
    *,
    src_tokens: Sequence[str] | None = None,
    tgt_tokens: Sequence[str] | None = None,
    kinds: Sequence[str] = KINDS,
    layer: int | None = None,
    head: int | None = None,
    threshold: float = 0.05,
    kind: str = "graph",
) -> graphviz.Digraph:
    """Draw the attention of a Seq2SeqTransformer on one example (see `seq2seq_attention`):
    a labelled section per kind in `kinds` ("encoder", "decoder", "cross"), in it a row per
    layer and a column per head (or the one `layer` and `head` asked for). `kind="graph"` draws
    each head as two columns of tokens with an edge per weight above `threshold`;
    `kind="heatmap"` as a table of weights."""
    if kind not in ("graph", "heatmap"):
        raise ValueError(f"draw_seq2seq_attention: kind must be 'graph' or 'heatmap', got {kind!r}")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"draw_seq2seq_attention: kinds must be some of {KINDS}, got {list(kinds)}")
    _check_threshold(threshold, "draw_seq2seq_attention")
    found = seq2seq_attention(model, src_ids, tgt_ids, src_tokens, tgt_tokens)
    heads = _pick(head, model.config.n_heads, "head")
    sections = []
    for k in kinds:
        maps = [m for m in found if m.kind == k]
        layers = _pick(layer, len(maps), f"{k} layer")
        sections.append((k, [maps[i] for i in layers]))
    if kind == "heatmap":
        return _heatmap_sections(sections, heads)
    graph = _attention_graph("seq2seq_attention")
    graph.attr(
        label=f"<<b>attention of the encoder-decoder</b>: a row per layer, a column per head; "
        f"queries on the left, keys on the right; edges above {threshold:g}>"
    )
    y = 0.0
    for k, maps in sections:
        graph.node(
            f"{k}_section",
            f'<<b><font point-size="14">{html(TITLES[k])}</font></b>>',
            shape="plaintext",
            style="",
            pos=f"{COLUMN_GAP / 2:.2f},{y + 0.9:.2f}!",
        )
        for m in maps:
            for column, h in enumerate(heads):
                w = check_weights(m.weights[h], m.keys, m.queries, "draw_seq2seq_attention")
                _columns(
                    graph,
                    w,
                    m.keys,
                    m.queries,
                    threshold,
                    f"{k}{m.layer}h{h}_",
                    x=column * (COLUMN_GAP + 1.6),
                    y=y,
                    title=f"{k} layer {m.layer}, head {h}",
                )
            y -= (max(len(m.queries), len(m.keys)) + 1) * ROW + 1.0
        y -= 0.6
    return graph


def _heatmap_sections(sections: list[tuple[str, list[AttentionMap]]], heads: list[int]) -> graphviz.Digraph:
    rows = []
    for k, maps in sections:
        rows.append(
            f'<tr><td colspan="{len(heads)}" align="left"><font point-size="14"><b>{html(TITLES[k])}'
            "</b></font></td></tr>"
        )
        for m in maps:
            cells = []
            for h in heads:
                w = check_weights(m.weights[h], m.keys, m.queries, "draw_seq2seq_attention")
                table = _heatmap_table(w, m.keys, m.queries, True, f"{k} layer {m.layer}, head {h}")
                cells.append(f"<td>{table}</td>")
            rows.append(f"<tr>{''.join(cells)}</tr>")
    graph = graphviz.Digraph(name="seq2seq_attention_heatmaps")
    graph.node(
        "grid",
        f'<<table border="0" cellspacing="12">{"".join(rows)}</table>>',
        shape="plaintext",
        fontname="Helvetica",
        fontsize="10",
    )
    return graph


def draw_seq2seq_graph(
    model: Seq2SeqTransformer,
    src_ids: Any = None,
    tgt_ids: Any = None,
    *,
    depth: int | None = 4,
    show_shapes: bool = True,
    show_grads: bool = False,
    rankdir: str = "TB",
) -> graphviz.Digraph:
    """The computation graph of a Seq2SeqTransformer's loss on one example (default: fixed
    pseudo-random source and target ids), drawn by `minigrad.viz.draw_graph`. At the default
    `depth` 4 the encoder and the decoder are clusters holding one box per block, and the
    encoder's output (its final LayerNorm) has an edge into every decoder block: the memory
    each cross-attention reads. Depth 2 draws the encoder and the decoder as one box each;
    None every op. With `show_grads` the parameters are coloured by this loss's gradient
    (their `.grad` are put back afterwards)."""
    c = model.config
    rng = np.random.default_rng(0)
    if src_ids is None:
        src_ids = rng.integers(EOS_ID + 1, c.src_vocab_size, size=(1, min(6, c.max_len)))
    if tgt_ids is None:
        tgt_ids = np.concatenate(
            [[[BOS_ID]], rng.integers(EOS_ID + 1, c.tgt_vocab_size, size=(1, min(4, c.max_len) - 1))], axis=1
        )
    src = np.atleast_2d(np.asarray(src_ids))
    tgt = np.atleast_2d(np.asarray(tgt_ids))
    targets = np.concatenate([tgt[:, 1:], np.full((len(tgt), 1), EOS_ID)], axis=1)
    _, loss = model(src, tgt, targets)
    names = {"src_pos_emb": "source positions", "tgt_pos_emb": "target positions"}
    if not c.share_embeddings:  # one shared table reads both, under one name
        names.update(src_emb="source ids", tgt_emb="target ids")
    if not show_grads:
        return draw_graph(loss, model, depth=depth, show_shapes=show_shapes, input_names=names,
                          rankdir=rankdir)
    saved = [(p, p.grad) for p in model.parameters()]
    try:
        model.zero_grad()
        loss.backward()
        return draw_graph(loss, model, depth=depth, show_shapes=show_shapes, show_grads=True,
                          input_names=names, rankdir=rankdir)
    finally:
        for p, grad in saved:
            p.grad = grad


__all__ = ["AttentionMap", "seq2seq_attention", "draw_seq2seq_attention", "draw_seq2seq_graph"]

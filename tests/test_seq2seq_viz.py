"""Pictures of a Seq2SeqTransformer: the three kinds of attention, labelled, with cross-attention
as target tokens against source words; the graph with encoder and decoder clusters and the
memory's edge into every decoder block."""

from __future__ import annotations

import re

import numpy as np
import pytest

import minigrad
from minigrad.graph_layout import layout_graph
from transformer import Seq2SeqConfig, Seq2SeqTransformer
from transformer.seq2seq_config import BOS_ID, EOS_ID
from transformer.seq2seq_tasks import NumbersTask
from transformer.seq2seq_viz import draw_seq2seq_attention, draw_seq2seq_graph, seq2seq_attention

TASK = NumbersTask(length=3, n_eval=100)


def model(layers=2):
    minigrad.manual_seed(0)
    config = Seq2SeqConfig(
        TASK.src_vocab.size,
        TASK.tgt_vocab.size,
        TASK.max_len,
        d_model=16,
        n_heads=2,
        n_encoder_layers=layers,
        n_decoder_layers=layers,
    )
    return Seq2SeqTransformer(config)


SRC = TASK.src_vocab.encode("three hundred twelve")
TGT = np.concatenate([[BOS_ID], TASK.tgt_vocab.encode("312")])


def test_every_attention_is_found_with_its_kind_and_labels():
    found = seq2seq_attention(model(), SRC, TGT, TASK.src_vocab.tokens, TASK.tgt_vocab.tokens)
    assert [(m.kind, m.layer) for m in found] == [
        ("encoder", 0),
        ("encoder", 1),
        ("decoder", 0),
        ("cross", 0),
        ("decoder", 1),
        ("cross", 1),
    ]
    shapes = {m.kind: m.weights.shape for m in found}
    assert shapes == {"encoder": (2, 3, 3), "decoder": (2, 4, 4), "cross": (2, 4, 3)}
    cross = found[3]
    assert cross.keys == ["three", "hundred", "twelve"] and len(cross.queries) == 4
    assert found[2].queries == found[2].keys == ["<s>", "3", "1", "2"]
    assert np.all(np.triu(found[2].weights[0], 1) == 0)  # masked: no looking ahead


def test_default_target_is_the_models_greedy_answer():
    m = model()
    found = seq2seq_attention(m, SRC)
    written = m.generate(SRC, m.config.max_len, temperature=0)
    length = int(np.argmax(written == EOS_ID)) if (written == EOS_ID).any() else len(written) - 1
    assert found[2].weights.shape[-1] == 1 + length


def test_the_picture_labels_the_three_kinds_and_draws_cross_attention_target_to_source():
    graph = draw_seq2seq_attention(
        model(1),
        SRC,
        TGT,
        src_tokens=TASK.src_vocab.tokens,
        tgt_tokens=TASK.tgt_vocab.tokens,
        head=0,
        threshold=0.0,
    )
    dot = graph.source
    for title in (
        "encoder self-attention",
        "decoder self-attention, masked",
        "cross-attention (target -&gt; source)",
    ):
        assert title in dot
    # the cross-attention panel: the source words are its keys, one edge per (target, source) pair
    assert 'cross0h0_k1 [label=<hundred' in dot and "cross0h0_q0" in dot
    assert dot.count("cross0h0_q") - dot.count("cross0h0_q_title") >= 4 + 4 * 3  # 4 nodes, 12 edges
    heat = draw_seq2seq_attention(
        model(1),
        SRC,
        TGT,
        src_tokens=TASK.src_vocab.tokens,
        tgt_tokens=TASK.tgt_vocab.tokens,
        kinds=["cross"],
        kind="heatmap",
    ).source
    assert "cross layer 0, head 1" in heat and "encoder" not in heat and "<b>twelve</b>" in heat


def test_picture_errors():
    m = model(1)
    with pytest.raises(ValueError, match="kinds must be some of"):
        draw_seq2seq_attention(m, SRC, kinds=["encoder", "memory"])
    with pytest.raises(ValueError, match="head 5 is out of range"):
        draw_seq2seq_attention(m, SRC, head=5)
    with pytest.raises(ValueError, match=r"src_ids of one example.*\(2, 3\)"):
        draw_seq2seq_attention(m, np.stack([SRC, SRC]))


def test_graph_has_encoder_and_decoder_clusters_and_the_memory_enters_every_decoder_block():
    m = model(2)
    graph = draw_seq2seq_graph(m)
    assert "<b>transformer.encoder</b>" in graph.source and "<b>transformer.decoder</b>" in graph.source
    targets = np.concatenate([TGT[1:], [EOS_ID]])[None]
    _, loss = m(SRC[None], TGT[None], targets)
    layout = layout_graph(loss, m, depth=4)
    boxes = {b.name: b.id for b in layout.boxes}
    assert {
        "transformer.encoder.layers.0",
        "transformer.encoder.layers.1",
        "transformer.decoder.layers.0",
        "transformer.decoder.layers.1",
    } <= set(boxes)
    home = layout.home()
    memory = [n.id for n in layout.nodes["transformer.encoder.norm"] if n.id.startswith("t")]  # its output
    assert len(memory) == 1
    heads = {head for tail, head in layout.edges if tail == memory[0]}
    assert {boxes["transformer.decoder.layers.0"], boxes["transformer.decoder.layers.1"]} <= heads
    assert home[boxes["transformer.decoder.layers.1"]].startswith("transformer.decoder")


@pytest.mark.parametrize("depth", [2, 4, None])
def test_graph_labels_the_source_and_target_ids_the_targets_and_the_masks(depth):
    source = draw_seq2seq_graph(model(1), SRC, TGT, depth=depth).source
    labels = set(re.findall(r"in\d+ \[[^\n]*label=<<b>([^<]+)</b>", source))
    assert {"source ids", "target ids", "targets", "causal mask"} <= labels
    assert not labels - {"source ids", "target ids", "targets", "causal mask", "key padding mask",
                         "source positions", "target positions"}

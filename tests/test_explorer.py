"""transformer.explorer and viz.attention_explorer: the HTML file carries exactly the weights
model_attention returns, is self-contained (no address it could fetch), escapes what it embeds,
and rejects what is not attention."""

from __future__ import annotations

import html
import re

import numpy as np
import pytest

import minigrad
from transformer import TransformerConfig, TransformerLM
from transformer.explorer import (
    AttentionExplorer,
    AttentionKind,
    decode_weights,
    embedded_data,
    encode_weights,
)
from transformer.viz import attention_explorer, model_attention


@pytest.fixture(scope="module")
def lm():
    minigrad.manual_seed(0)
    return TransformerLM(TransformerConfig(vocab_size=12, max_len=16, d_model=16, n_heads=4, n_layers=3))


IDS = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5])


def test_the_embedded_weights_are_model_attentions_arrays_exactly(lm, tmp_path):
    path = attention_explorer(lm, IDS).save(tmp_path / "attention.html")
    data = embedded_data(path.read_text(encoding="utf-8"))
    expected = model_attention(lm, IDS)
    (kind,) = data["kinds"]
    assert kind["label"] == "self-attention"
    assert kind["queries"] == kind["keys"] == [str(i) for i in IDS]
    assert (
        [layer["name"] for layer in kind["layers"]]
        == [name for name, _ in expected]
        == ["blocks.0.attn", "blocks.1.attn", "blocks.2.attn"]
    )
    for layer, (_, weights) in zip(kind["layers"], expected):
        assert layer["shape"] == [4, 9, 9]
        assert np.array_equal(decode_weights(layer["weights"], layer["shape"]), weights)


def test_weights_round_trip_bit_for_bit_as_float32():
    w = np.random.default_rng(0).random((2, 3, 5)).astype(np.float32)
    w[0, 0, 0] = np.float32(1e-30)
    assert np.array_equal(decode_weights(encode_weights(w), w.shape), w)
    assert decode_weights(encode_weights(w.astype(np.float64)), w.shape).dtype == np.float32


def test_the_page_is_self_contained(lm):
    page = attention_explorer(lm, IDS).to_html()
    assert page.startswith("<!DOCTYPE html>")
    assert "default-src 'none'" in page  # the browser is told to fetch nothing
    assert not re.search(r"\b(src|href)\s*=", page, re.I)  # no external script, style or link
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page)  # only the SVG namespace name
    for call in ("fetch(", "XMLHttpRequest", "import(", "WebSocket", "@import", "url("):
        assert call not in page
    assert "{{" not in page  # every placeholder filled


def test_tokens_are_escaped_and_cannot_end_the_data_early(lm):
    tokens = ["</script>", "<b>", "a&b", '"', " ", "\n", "<!--", "x", "y"]
    page = attention_explorer(lm, IDS, tokens).to_html()
    assert page.count("</script>") == 2  # the data's and the script's own ends
    kind = embedded_data(page)["kinds"][0]
    assert kind["queries"][:4] == ["</script>", "<b>", "a&b", '"']
    assert kind["queries"][4:6] == ["\u2423", "\\n"]  # whitespace made visible, as in the pictures
    title_page = AttentionExplorer(embedded_kinds(2), title="<i>mine</i>").to_html()
    assert "<title>&lt;i&gt;mine&lt;/i&gt;</title>" in title_page


def embedded_kinds(T: int) -> list[AttentionKind]:
    w = np.full((1, T, T), 1.0 / T, dtype=np.float32)
    return [AttentionKind("self-attention", list("ab"[:T]), list("ab"[:T]), [("attn", w)])]


def test_several_kinds_with_rectangular_matrices():
    rng = np.random.default_rng(1)
    cross = rng.random((2, 3, 5)).astype(np.float32)
    kinds = [
        AttentionKind(
            "encoder self-attention",
            list("abcde"),
            list("abcde"),
            [("encoder.layers.0.self_attn", rng.random((2, 5, 5)).astype(np.float32))],
        ),
        AttentionKind(
            "cross-attention", list("xyz"), list("abcde"), [("decoder.layers.0.cross_attn", cross)]
        ),
    ]
    data = embedded_data(AttentionExplorer(kinds).to_html())
    assert [k["label"] for k in data["kinds"]] == ["encoder self-attention", "cross-attention"]
    second = data["kinds"][1]
    assert second["queries"] == list("xyz") and second["keys"] == list("abcde")
    assert np.array_equal(decode_weights(second["layers"][0]["weights"], (2, 3, 5)), cross)


def test_layers_of_one_kind_must_agree_in_shape():
    with pytest.raises(ValueError, match=r"layer1 has weights of shape \(2, 3, 3\), expected .*\(1, 3, 3\)"):
        AttentionKind(
            "self", list("abc"), list("abc"), [("layer0", np.ones((1, 3, 3))), ("layer1", np.ones((2, 3, 3)))]
        )
    with pytest.raises(ValueError, match="expected"):
        AttentionKind("cross", list("ab"), list("abc"), [("layer0", np.ones((1, 3, 2)))])
    with pytest.raises(ValueError, match="no layers"):
        AttentionKind("self", [], [], [])
    with pytest.raises(ValueError, match="no kind"):
        AttentionExplorer([])


def test_attention_explorer_checks_its_tokens(lm):
    with pytest.raises(ValueError, match="attention_explorer: 2 tokens for a sequence of 9 ids"):
        attention_explorer(lm, IDS, ["a", "b"])
    with pytest.raises(ValueError, match=r"expected the ids of one sequence"):
        attention_explorer(lm, np.zeros((2, 3), dtype=np.int64))


def test_save_writes_the_page_and_repr_html_wraps_it_in_an_iframe(lm, tmp_path):
    explorer = attention_explorer(lm, IDS[:4], list("abcd"))
    path = explorer.save(tmp_path / "sub" / "a.html")
    assert path.read_text(encoding="utf-8") == explorer.to_html()
    assert [p.name for p in path.parent.iterdir()] == ["a.html"]  # no temporary left behind
    frame = explorer._repr_html_()
    assert frame.startswith("<iframe srcdoc=\"") and "<script" not in frame  # escaped inside srcdoc
    inner = html.unescape(re.match(r'<iframe srcdoc="([^"]*)"', frame).group(1))
    assert inner == explorer.to_html()


def test_render_attention_writes_the_explorer_for_an_html_suffix_or_format(tmp_path, capsys):
    from transformer.cli import main
    from transformer.train import load_checkpoint

    checkpoint = tmp_path / "sort.npz"
    assert (
        main(
            [
                "train",
                "--task",
                "sort",
                "--length",
                "4",
                "--eval-size",
                "20",
                "--steps",
                "2",
                "--d-model",
                "16",
                "--n-heads",
                "2",
                "--n-layers",
                "2",
                "--batch-size",
                "8",
                "--quiet",
                "--out",
                str(checkpoint),
            ]
        )
        == 0
    )
    assert (
        main(["render-attention", str(checkpoint), "--input", "3142=123", "-o", str(tmp_path / "a.html")])
        == 0
    )
    assert (
        main(
            [
                "render-attention",
                str(checkpoint),
                "--input",
                "3142=123",
                "--format",
                "html",
                "--layer",
                "-1",
                "--head",
                "1",
                "--kind",
                "heatmap",
                "--threshold",
                "0.1",
                "-o",
                str(tmp_path / "b.page"),
            ]
        )
        == 0
    )
    assert str(tmp_path / "a.html") in capsys.readouterr().out
    loaded = load_checkpoint(checkpoint)
    expected = model_attention(loaded.build_model(), _encode(loaded, "3142=123"))
    for name, start in (
        ("a.html", {"view": "head", "layer": 0, "head": 0, "threshold": 0.05}),
        ("b.page", {"view": "matrix", "layer": 1, "head": 1, "threshold": 0.1}),
    ):
        data = embedded_data((tmp_path / name).read_text(encoding="utf-8"))
        assert data["start"] == start
        assert data["kinds"][0]["queries"] == list("3142=123")
        for layer, (_, weights) in zip(data["kinds"][0]["layers"], expected, strict=True):
            assert np.array_equal(decode_weights(layer["weights"], layer["shape"]), weights)
    status = main(
        [
            "render-attention",
            str(checkpoint),
            "--input",
            "3142",
            "--layer",
            "2",
            "-o",
            str(tmp_path / "c.html"),
        ]
    )
    assert status == 1 and "--layer 2 is out of range for a model with 2 layers" in capsys.readouterr().err


def _encode(checkpoint, text):
    from transformer.tasks import dataset_from_description

    return dataset_from_description(checkpoint.data).vocab.encode(text)


class TinySeq2Seq(minigrad.nn.Module):
    """Embeddings around an EncoderDecoder: forward(src_ids, tgt_ids), as a seq2seq model's."""

    def __init__(self) -> None:
        super().__init__()
        from transformer.encoder_decoder import EncoderDecoder

        self.src_emb = minigrad.nn.Embedding(10, 16)
        self.tgt_emb = minigrad.nn.Embedding(10, 16)
        self.transformer = EncoderDecoder(16, 2, 2, 2, 32, dropout=0.0)

    def forward(self, src_ids, tgt_ids):
        return self.transformer(self.src_emb(src_ids), self.tgt_emb(tgt_ids))


@pytest.fixture(scope="module")
def seq2seq():
    minigrad.manual_seed(0)
    return TinySeq2Seq()


SRC, TGT = np.array([1, 2, 3, 4, 5]), np.array([0, 6, 7])


def test_an_encoder_decoder_has_encoder_decoder_and_cross_attention(seq2seq):
    explorer = attention_explorer(seq2seq, (SRC, TGT), (list("abcde"), list("xyz")))
    data = embedded_data(explorer.to_html())
    kinds = {k["label"]: k for k in data["kinds"]}
    assert list(kinds) == ["encoder self-attention", "decoder self-attention", "cross-attention"]
    assert (
        kinds["encoder self-attention"]["queries"] == kinds["encoder self-attention"]["keys"] == list("abcde")
    )
    assert (
        kinds["decoder self-attention"]["queries"] == kinds["decoder self-attention"]["keys"] == list("xyz")
    )
    assert kinds["cross-attention"]["queries"] == list("xyz") and kinds["cross-attention"]["keys"] == list(
        "abcde"
    )
    expected = dict(model_attention(seq2seq, (SRC, TGT)))
    assert [layer["name"] for layer in kinds["cross-attention"]["layers"]] == [
        "transformer.decoder.layers.0.cross_attn",
        "transformer.decoder.layers.1.cross_attn",
    ]
    for kind in data["kinds"]:
        for layer in kind["layers"]:
            weights = decode_weights(layer["weights"], layer["shape"])
            assert np.array_equal(weights, expected[layer["name"]])
            assert weights.shape == (2, len(kind["queries"]), len(kind["keys"]))


def test_an_encoder_decoder_takes_a_pair_of_token_lists(seq2seq):
    with pytest.raises(ValueError, match=r"tokens must be the pair \(source tokens, target tokens\)"):
        attention_explorer(seq2seq, (SRC, TGT), list("abcde"))
    with pytest.raises(ValueError, match="2 target tokens for a sequence of 3 ids"):
        attention_explorer(seq2seq, (SRC, TGT), (list("abcde"), list("xy")))
    data = embedded_data(attention_explorer(seq2seq, (SRC, TGT)).to_html())
    assert data["kinds"][2]["keys"] == ["1", "2", "3", "4", "5"]


def test_the_seq2seq_transformer_explored_from_a_source_target_pair():
    from transformer.seq2seq import Seq2SeqTransformer
    from transformer.seq2seq_config import Seq2SeqConfig

    minigrad.manual_seed(0)
    model = Seq2SeqTransformer(
        Seq2SeqConfig(src_vocab_size=12, tgt_vocab_size=9, max_len=8, d_model=16, n_heads=2)
    )
    src, tgt = np.array([5, 6, 7, 8, 2]), np.array([1, 3, 4])
    data = embedded_data(attention_explorer(model, (src, tgt)).to_html())
    shapes = {k["label"]: (len(k["layers"]), k["layers"][0]["shape"]) for k in data["kinds"]}
    assert shapes == {
        "encoder self-attention": (2, [2, 5, 5]),
        "decoder self-attention": (2, [2, 3, 3]),
        "cross-attention": (2, [2, 3, 5]),
    }
    expected = dict(model_attention(model, (src, tgt)))
    cross = data["kinds"][2]["layers"][1]
    assert np.array_equal(decode_weights(cross["weights"], cross["shape"]), expected[cross["name"]])

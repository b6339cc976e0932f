"""Seq2SeqTransformer and the numbers task: config checks, a float64 gradcheck of the loss,
tied and shared embeddings, cached and uncached decoding giving the same tokens, save/load,
errors naming shapes, the task's framing and held-out set, and a quick training run."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad
from transformer import Seq2SeqConfig, Seq2SeqTransformer
from transformer.seq2seq_config import BOS_ID, EOS_ID, PAD_ID
from transformer.seq2seq_tasks import NumbersTask, most_words, number_words
from transformer.tasks import IGNORE


def small_model(**fields):
    minigrad.manual_seed(0)
    config = dict(
        src_vocab_size=11,
        tgt_vocab_size=7,
        max_len=8,
        d_model=8,
        n_heads=2,
        n_encoder_layers=1,
        n_decoder_layers=1,
        d_ff=12,
    )
    return Seq2SeqTransformer(Seq2SeqConfig(**{**config, **fields}))


def batch():
    rng = np.random.default_rng(0)
    src = rng.integers(3, 11, size=(3, 6))
    src[1, 4:] = PAD_ID  # a padded source
    tgt = rng.integers(3, 7, size=(3, 5))
    tgt[:, 0] = BOS_ID
    targets = np.concatenate([tgt[:, 1:], np.full((3, 1), EOS_ID)], axis=1)
    targets[2, 3:] = IGNORE
    return src, tgt, targets


# ----- config --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fields, words",
    [
        ({"src_vocab_size": 2}, ["src_vocab_size=2", "must lie in [3,"]),
        ({"max_len": 0}, ["max_len=0"]),
        ({"d_model": 10, "n_heads": 3}, ["d_model=10", "n_heads=3"]),
        ({"activation": "tanh"}, ["activation='tanh'"]),
        ({"pos_encoding": "rotary"}, ["pos_encoding='rotary'"]),
        ({"label_smoothing": 1.0}, ["label_smoothing=1.0"]),
        ({"share_embeddings": True}, ["share_embeddings", "src_vocab_size=11", "tgt_vocab_size=7"]),
    ],
)
def test_config_rejects_bad_values_naming_them(fields, words):
    args = {"src_vocab_size": 11, "tgt_vocab_size": 7, "max_len": 8, **fields}
    with pytest.raises(ValueError) as info:
        Seq2SeqConfig(**args)
    for word in words:
        assert word in str(info.value)


# ----- the model -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fields",
    [{}, {"pos_encoding": "learned", "norm_first": True, "activation": "gelu", "label_smoothing": 0.1}],
    ids=["paper", "variants"],
)
def test_loss_gradcheck(fields):
    model = small_model(**fields).to(np.float64)
    src, tgt, targets = batch()
    assert minigrad.gradcheck(lambda *_: model(src, tgt, targets)[1], list(model.parameters()))


def test_head_is_tied_to_the_target_embedding_and_shared_embeddings_are_one():
    model = small_model()
    assert "head.weight" not in model.state_dict() and "tgt_emb.weight" in model.state_dict()
    x = minigrad.randn(2, 3, 8)
    np.testing.assert_allclose(model.head(x).data, x.data @ model.tgt_emb.weight.data.T, rtol=1e-5, atol=1e-6)
    shared = small_model(tgt_vocab_size=11, share_embeddings=True)
    assert shared.tgt_emb is shared.src_emb and "tgt_emb.weight" not in shared.state_dict()
    src, tgt, targets = batch()
    _, loss = shared(src, tgt, targets)
    loss.backward()
    assert shared.src_emb.weight.grad is not None


def test_padded_source_positions_change_nothing():
    """A source padded further (more PAD_ID columns) gives the same logits: padding is masked."""
    model = small_model()
    src, tgt, _ = batch()
    longer = np.concatenate([src, np.full((3, 2), PAD_ID)], axis=1)
    np.testing.assert_allclose(model(longer, tgt)[0].data, model(src, tgt)[0].data, rtol=1e-5, atol=1e-6)


def test_label_smoothing_reaches_the_loss():
    src, tgt, targets = batch()
    plain = small_model()(src, tgt, targets)[1].item()
    smoothed = small_model(label_smoothing=0.1)(src, tgt, targets)[1].item()
    assert plain != smoothed


@pytest.mark.parametrize(
    "fields", [{}, {"pos_encoding": "learned", "norm_first": True}], ids=["paper", "variants"]
)
def test_cached_and_uncached_decoding_give_the_same_tokens(fields):
    model = small_model(**fields)
    model.tgt_emb.weight.data[EOS_ID] = 0.0  # EOS's logit is 0: rarely the largest, so targets run long
    src, _, _ = batch()
    drawn = model.generate(src, 7, rng=np.random.default_rng(1))
    assert drawn.shape == (3, 7) and len(np.unique(drawn)) > 2
    assert np.array_equal(drawn, model.generate(src, 7, rng=np.random.default_rng(1), use_cache=False))
    greedy = model.generate(src, 7, temperature=0)
    assert np.array_equal(greedy, model.generate(src, 7, temperature=0, use_cache=False))
    # (a trained model's greedy targets are compared in test_numbers_task_trains_in_a_quick_configuration)
    assert model.generate(src[0], 7, temperature=0).ndim == 1


def test_generate_stops_at_eos_and_pads_after_it():
    model = small_model()
    with minigrad.no_grad():
        model.tgt_emb.weight.data[EOS_ID] *= 50  # the tied head now prefers EOS everywhere
    out = model.generate(batch()[0], 5, temperature=0)
    assert out.shape == (3, 1) and np.all(out == EOS_ID)


def test_save_and_load_round_trip(tmp_path):
    model = small_model(pos_encoding="learned").to(np.float64)
    path = tmp_path / "s2s.npz"
    model.save(path)
    back = Seq2SeqTransformer.load(path)
    assert back.config == model.config and back.src_emb.weight.dtype == np.float64
    src, tgt, _ = batch()
    np.testing.assert_array_equal(back(src, tgt)[0].data, model(src, tgt)[0].data)


def test_bad_input_names_the_shapes():
    model = small_model()
    src, tgt, targets = batch()
    with pytest.raises(ValueError, match=r"src_ids of shape \(3, 9\) is longer than max_len 8"):
        model(np.ones((3, 9), dtype=np.int64), tgt)
    with pytest.raises(ValueError, match=r"src_ids of shape \(3, 6\) and tgt_ids of shape \(2, 5\)"):
        model(src, tgt[:2])
    with pytest.raises(ValueError, match=r"targets of shape \(3, 4\) do not match tgt_ids of shape \(3, 5\)"):
        model(src, tgt, targets[:, :4])
    with pytest.raises(IndexError, match=r"tgt_ids holds token id 9, outside \[0, 7\)"):
        model(src, np.full((3, 5), 9))
    with pytest.raises(TypeError, match="integers"):
        model(src.astype(np.float32), tgt)
    with pytest.raises(ValueError, match=r"max_new_tokens=9 must be in \[1, max_len = 8\]"):
        model.generate(src, 9)


# ----- the task --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "n, words",
    [
        (0, "zero"),
        (7, "seven"),
        (12, "twelve"),
        (40, "forty"),
        (42, "forty two"),
        (312, "three hundred twelve"),
        (1000, "one thousand"),
        (40007, "forty thousand seven"),
        (999901, "nine hundred ninety nine thousand nine hundred one"),
    ],
)
def test_number_words(n, words):
    assert " ".join(number_words(n)) == words


def test_most_words_is_the_longest_spelling():
    for length in range(1, 7):
        longest = max(len(number_words(n)) for n in range(0, 10**length, max(1, 10**length // 20000)))
        assert most_words(length) >= longest
    assert most_words(6) == len(number_words(777777)) == 9


def test_task_frames_source_and_target():
    task = NumbersTask(length=6, n_eval=10)
    (src, tgt), targets = task.frame(np.array([312, 40007]))
    assert src.shape == (2, 9) and tgt.shape == targets.shape == (2, 7)
    assert task.src_vocab.decode(src[0]) == "three hundred twelve" and np.all(src[0, 3:] == PAD_ID)
    assert task.tgt_vocab.decode(tgt[1]) == "40007" and tgt[1, 0] == BOS_ID
    assert list(targets[0]) == list(task.tgt_vocab.encode("312")) + [EOS_ID] + [IGNORE] * 3
    digits = targets[:, :-1] > EOS_ID
    assert np.array_equal(tgt[:, 1:][digits], targets[:, :-1][digits])  # the decoder's input is shifted right


def test_held_out_numbers_are_never_trained_on():
    task = NumbersTask(length=3, n_eval=100)
    (src, _), _ = task.eval_set()
    held = {task.src_vocab.decode(row) for row in src}
    assert len(held) == 100 and all(len(w.split()) >= 2 and "hundred" in w for w in held)  # all of 3 digits
    rng = np.random.default_rng(0)
    for _ in range(20):
        (train_src, _), _ = task.batch(rng, 64)
        assert not held & {task.src_vocab.decode(row) for row in train_src}


def test_task_errors():
    with pytest.raises(ValueError, match=r"length must be in \[1, 6\]"):
        NumbersTask(length=7)
    with pytest.raises(ValueError, match="n_eval must be in"):
        NumbersTask(length=2, n_eval=60)
    with pytest.raises(ValueError, match="'eleventy' is not in the vocabulary"):
        NumbersTask().src_vocab.encode("eleventy two")


@pytest.mark.parametrize(
    "fields", [{}, {"pos_encoding": "learned", "d_ff": 40}, {"tgt_vocab_size": 11, "share_embeddings": True}]
)
def test_max_elements_bounds_the_real_model(fields):
    model = small_model(**fields)
    c = model.config
    table = c.max_len * c.d_model if c.pos_encoding == "sinusoidal" else 0  # the fixed sinusoids
    real = sum(p.data.size for p in model.parameters()) + table
    assert real <= c.max_elements() <= 4 * real


def test_a_file_whose_config_outgrows_its_weights_is_refused(tmp_path):
    from transformer import checkpoint

    model = small_model()
    path = tmp_path / "big.npz"
    big = Seq2SeqConfig(**{**model.config.to_dict(), "d_model": 4096, "n_heads": 2})
    checkpoint.write(path, "Seq2SeqTransformer", big, model.state_dict())
    with pytest.raises(ValueError, match="refusing to build it"):
        Seq2SeqTransformer.load(path)
    lm_path = tmp_path / "lm.npz"
    from transformer import TransformerConfig, TransformerLM

    TransformerLM(TransformerConfig(vocab_size=5, max_len=4, d_model=8, n_heads=2)).save(lm_path)
    with pytest.raises(ValueError, match="holds a TransformerLM, not a Seq2SeqTransformer"):
        Seq2SeqTransformer.load(lm_path)

"""The numbers task trained through transformer.train and the command line in a quick
configuration: high held-out exact match, greedy cached decoding equal to uncached and to the
teacher-forced score, checkpoints that rebuild the model and resume exactly, the noam
schedule, and eval / sample / render-attention / render-graph on a seq2seq checkpoint."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minigrad
from transformer import Seq2SeqConfig, Seq2SeqTransformer
from transformer.cli import main
from transformer.seq2seq_tasks import NumbersTask
from transformer.tasks import make_task
from transformer.train import TrainConfig, load_checkpoint, make_scheduler, noam_factor, train

QUICK = TrainConfig(steps=200, batch_size=64, lr=3e-3, warmup_steps=50, schedule="noam", eval_interval=100)


def quick_model(task):
    minigrad.manual_seed(0)
    return Seq2SeqTransformer(
        Seq2SeqConfig(
            task.src_vocab.size,
            task.tgt_vocab.size,
            task.max_len,
            d_model=32,
            n_encoder_layers=1,
            n_decoder_layers=1,
            label_smoothing=0.1,
        )
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    task = NumbersTask(length=3, n_eval=100)
    model = quick_model(task)
    path = tmp_path_factory.mktemp("s2s") / "numbers.npz"
    history = train(model, task, QUICK, out=path, log=None)
    return task, model, history, path


def test_numbers_task_trains_in_a_quick_configuration(trained):
    task, model, history, _ = trained
    assert history.accuracy >= 0.95
    (src, _), targets = task.eval_set()
    cached = model.generate(src, task.tgt_len, temperature=0)
    assert np.array_equal(cached, model.generate(src, task.tgt_len, temperature=0, use_cache=False))
    greedy_right = [task.tgt_vocab.decode(w) == task.tgt_vocab.decode(t) for w, t in zip(cached, targets)]
    assert math.isclose(np.mean(greedy_right), history.accuracy)  # greedy agrees with teacher forcing


def test_checkpoint_rebuilds_the_model_and_resumes_exactly(trained, tmp_path):
    task, model, history, path = trained
    checkpoint = load_checkpoint(path)
    assert checkpoint.file.model == "Seq2SeqTransformer" and checkpoint.data["kind"] == "seq2seq"
    rebuilt = checkpoint.build_model()
    (src, tgt), _ = task.eval_set()
    np.testing.assert_array_equal(rebuilt(src[:5], tgt[:5])[0].data, model(src[:5], tgt[:5])[0].data)
    assert np.array_equal(Seq2SeqTransformer.load(path).src_emb.weight.data, model.src_emb.weight.data)

    halves = tmp_path / "halves.npz"
    first = quick_model(task)
    train(first, task, QUICK, out=halves, until_step=100, log=None)
    second = quick_model(task)
    resumed = train(second, task, QUICK, out=halves, resume_from=halves, log=None)
    assert resumed.losses == history.losses and resumed.eval_accuracies == history.eval_accuracies


def test_noam_schedule_warms_up_then_decays_as_one_over_sqrt_step():
    assert noam_factor(0, 4) == 0.25 and noam_factor(3, 4) == 1.0 and noam_factor(15, 4) == 0.5
    optimizer = minigrad.optim.AdamW([minigrad.nn.Parameter(np.zeros(2))], lr=2.0)
    scheduler = make_scheduler(optimizer, TrainConfig(steps=30, lr=2.0, warmup_steps=4, schedule="noam"))
    lrs = []
    for _ in range(16):
        lrs.append(scheduler.get_last_lr()[0])
        scheduler.step()
    assert lrs[3] == 2.0 and math.isclose(lrs[15], 1.0) and lrs[0] == 0.5
    with pytest.raises(ValueError, match="schedule='linear'"):
        TrainConfig(schedule="linear")


def test_train_refuses_a_model_that_does_not_fit_the_data():
    task = NumbersTask(length=3, n_eval=100)
    small = Seq2SeqTransformer(Seq2SeqConfig(task.src_vocab.size, 5, task.max_len, d_model=8, n_heads=2))
    with pytest.raises(ValueError, match="tgt_vocab_size >= 13, but the model's tgt_vocab_size is 5"):
        train(small, task, QUICK, log=None)
    with pytest.raises(ValueError, match="needs a Seq2SeqTransformer"):
        from transformer import TransformerConfig, TransformerLM

        train(TransformerLM(TransformerConfig(vocab_size=40, max_len=8)), task, QUICK, log=None)
    with pytest.raises(ValueError, match="sequence-to-sequence task"):
        train(quick_model(task), make_task("sort", length=3, n_eval=10), QUICK, log=None)


def test_command_line_trains_evaluates_samples_and_draws(tmp_path, capsys):
    path = str(tmp_path / "numbers.npz")
    assert (
        main(
            [
                "train",
                "--task",
                "numbers",
                "--length",
                "3",
                "--eval-size",
                "100",
                "--d-model",
                "32",
                "--n-layers",
                "1",
                "--steps",
                "200",
                "--lr",
                "3e-3",
                "--warmup",
                "50",
                "--out",
                path,
                "--quiet",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "1 encoder + 1 decoder layers" in out and "lr 0.003 noam" in out and "(right)" in out
    assert main(["eval", path, "--greedy", "--examples", "1"]) == 0
    out = capsys.readouterr().out
    assert "greedy decoding exact match" in out and " -> " in out
    assert main(["sample", path, "--prompt", "six hundred forty two", "--temperature", "0"]) == 0
    assert capsys.readouterr().out.startswith("six hundred forty two -> ")
    picture = tmp_path / "attention.dot"
    assert (
        main(["render-attention", path, "--input", "nine hundred five", "--head", "0", "-o", str(picture)])
        == 0
    )
    dot = picture.read_text()
    assert (
        "cross-attention (target -&gt; source)" in dot and "encoder self-attention" in dot and "five" in dot
    )
    graph = tmp_path / "graph.dot"
    assert main(["render-graph", path, "-o", str(graph)]) == 0
    assert "transformer.decoder.layers.0" in graph.read_text()
    assert main(["sample", path, "--prompt", "eleventy two"]) == 1
    assert "'eleventy' is not in the vocabulary" in capsys.readouterr().err
    assert main(["train", "--task", "numbers", "--base", "3", "--out", str(tmp_path / "x.npz")]) == 1

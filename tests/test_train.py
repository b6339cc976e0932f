"""transformer.train: schedule, training, evaluation, checkpoints, resume and repeatability."""
import contextlib
import io
import math

import numpy as np
import pytest

import minigrad
from minigrad import nn
from minigrad.optim import AdamW
from transformer import TransformerConfig, TransformerLM
from transformer.tasks import CharDataset, exact_match, greedy_exact_match, make_task
from transformer.train import TrainConfig, evaluate, load_checkpoint, make_scheduler, train

TEXT = ("the keeper climbed the stairs and lit the lamp. the ships saw the light and kept away "
        "from the rocks. ") * 12


def tiny_model(data, seed=0, **overrides):
    minigrad.manual_seed(seed)
    options = dict(d_model=32, n_heads=2, n_layers=1) | overrides
    return TransformerLM(TransformerConfig(vocab_size=data.vocab.size, max_len=data.block_size, **options))


def weights_equal(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)


def schedule(config):
    """The lr of every step of a run with `config`, from the scheduler the training loop uses."""
    optimizer = AdamW([nn.Parameter(np.zeros(1))], lr=config.lr)
    scheduler = make_scheduler(optimizer, config)
    lrs = []
    for _ in range(config.steps):
        lrs.append(scheduler.get_last_lr()[0])
        scheduler.step()
    return lrs


def test_lr_schedule_values():
    c = TrainConfig(steps=111, lr=1e-2, min_lr=1e-3, warmup_steps=10)
    lrs = schedule(c)
    assert lrs[0] == pytest.approx(1e-3)          # lr / warmup
    assert lrs[4] == pytest.approx(5e-3)
    assert lrs[9] == pytest.approx(1e-2)          # end of warmup: the peak
    assert lrs[10] == pytest.approx(1e-2)         # cosine starts at the peak
    assert lrs[60] == pytest.approx(0.5 * (1e-2 + 1e-3), rel=1e-6)  # halfway down the cosine
    assert lrs[110] == pytest.approx(1e-3)        # the last step uses min_lr
    assert all(x >= y for x, y in zip(lrs[10:], lrs[11:]))   # non-increasing after warmup
    assert all(isinstance(lr, float) for lr in lrs)
    assert TrainConfig(lr=2e-3).min_lr == pytest.approx(2e-4)  # default min_lr: lr / 10
    assert schedule(TrainConfig(steps=5, warmup_steps=0, lr=1.0, min_lr=0.0))[0] == 1.0
    one = schedule(TrainConfig(steps=6, warmup_steps=1, lr=1.0, min_lr=0.0))
    assert one[0] == 1.0 and one[1] == 1.0 and one[5] == pytest.approx(0.0, abs=1e-15)


def test_schedule_resumes_from_last_epoch():
    c = TrainConfig(steps=40, lr=1e-2, warmup_steps=5)
    optimizer = AdamW([nn.Parameter(np.zeros(1))], lr=c.lr)
    make_scheduler(optimizer, c)
    resumed = make_scheduler(optimizer, c, last_epoch=19)  # 20 steps taken
    assert resumed.get_last_lr()[0] == pytest.approx(schedule(c)[20], rel=1e-12)


def test_train_config_errors():
    with pytest.raises(ValueError, match=r"steps=0 must lie in \[1, "):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match="min_lr <= lr"):
        TrainConfig(lr=1e-3, min_lr=1e-2)


def test_training_drives_the_loss_down():
    task = make_task("copy", length=4, n_eval=100)
    history = train(tiny_model(task), task, TrainConfig(steps=60, batch_size=32, lr=1e-2, warmup_steps=5,
                                                        eval_interval=30), log=None)
    assert len(history.losses) == 60 and len(history.lrs) == 60
    initial, final = history.losses[0], float(np.mean(history.losses[-5:]))
    assert initial > 2.0                # about ln(12): a model that knows nothing
    assert final < 0.5 * initial
    assert history.eval_steps == [30, 60]
    assert history.eval_losses[-1] < 0.5 * initial
    assert 0.0 <= history.accuracy <= 1.0
    assert history.tokens == 60 * 32 * task.block_size and history.seconds > 0


def test_same_seed_same_run_different_seed_different_run():
    task = make_task("sort", length=4, n_eval=50)
    config = TrainConfig(steps=8, batch_size=16, eval_interval=4, seed=3)
    runs = [train(tiny_model(task, dropout=0.1), task, config, log=None) for _ in range(2)]
    assert runs[0].losses == runs[1].losses and runs[0].eval_losses == runs[1].eval_losses
    other = train(tiny_model(task, dropout=0.1), task,
                  TrainConfig(steps=8, batch_size=16, eval_interval=4, seed=4),
                  log=None)
    assert other.losses != runs[0].losses


def test_resume_continues_bit_identically(tmp_path):
    task = make_task("reverse", length=4, n_eval=50)
    config = TrainConfig(steps=12, batch_size=16, warmup_steps=3, eval_interval=4, seed=1)
    whole = tiny_model(task, dropout=0.1)  # dropout: minigrad's generator must be restored too
    expected = train(whole, task, config, log=None)

    path = tmp_path / "run.npz"
    first = train(tiny_model(task, dropout=0.1), task, config, out=path, until_step=6, log=None)
    assert len(first.losses) == 6 and load_checkpoint(path).step == 6
    resumed_model = tiny_model(task, seed=99, dropout=0.1)  # other initial weights: all overwritten
    resumed = train(resumed_model, task, load_checkpoint(path).train_config, out=path, resume_from=path,
                    log=None)
    assert resumed.losses == expected.losses
    assert resumed.lrs == expected.lrs
    assert resumed.eval_steps == expected.eval_steps and resumed.eval_losses == expected.eval_losses
    assert weights_equal(resumed_model, whole)


def test_checkpoint_holds_the_run(tmp_path):
    task = make_task("add", length=2, n_eval=50)
    model = tiny_model(task)
    config = TrainConfig(steps=6, batch_size=8, eval_interval=3)
    history = train(model, task, config, out=tmp_path / "sub" / "add.npz", log=None)
    checkpoint = load_checkpoint(tmp_path / "sub" / "add.npz")
    assert checkpoint.step == 6 and checkpoint.train_config == config
    assert checkpoint.model_config == model.config and checkpoint.data == task.describe()
    assert checkpoint.history.losses == history.losses and checkpoint.history.eval_steps == [3, 6]
    rebuilt = checkpoint.build_model()
    ids, _ = task.eval_set()
    assert np.array_equal(rebuilt(ids)[0].numpy(), model(ids)[0].numpy())  # identical logits
    minigrad.save({"w": np.zeros(2)}, tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="not a minigrad model file"):
        load_checkpoint(tmp_path / "plain.npz")


def test_data_must_fit_the_model():
    task = make_task("sort", length=8, n_eval=10)
    minigrad.manual_seed(0)
    model = TransformerLM(TransformerConfig(vocab_size=task.vocab.size, max_len=8, d_model=16, n_heads=2))
    with pytest.raises(ValueError, match="rows of 16 tokens but the model's max_len is 8"):
        train(model, task, TrainConfig(steps=1), log=None)


@pytest.fixture(scope="module")
def half_trained():
    """A model on `sort` trained far enough that some held-out answers are right and some wrong."""
    task = make_task("sort", length=6, n_eval=300)
    model = tiny_model(task, d_model=32, n_heads=4, n_layers=2)
    train(model, task, TrainConfig(steps=80, batch_size=32, lr=1e-2, warmup_steps=10, eval_interval=80),
          log=None)
    return model, task


def test_teacher_forced_exact_match_equals_greedy_decoding(half_trained):
    model, task = half_trained
    ids, targets = task.eval_set()
    logits, _ = model(ids)
    forced = exact_match(logits.numpy(), targets)
    greedy = greedy_exact_match(model, ids, targets)
    assert 0 < forced.sum() < len(forced)  # both outcomes occur, so the comparison means something
    assert np.array_equal(forced, greedy)
    _, accuracy = evaluate(model, task, batch_size=64)
    assert accuracy == pytest.approx(forced.mean())


def test_progress_without_a_terminal_prints_one_line_per_evaluation():
    task = make_task("copy", length=4, n_eval=20)
    log = io.StringIO()
    train(tiny_model(task), task, TrainConfig(steps=6, batch_size=4, eval_interval=3), log=log)
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in log.getvalue()
    assert lines[0].startswith("step 3/6") and "exact match" in lines[0] and "tok/s" in lines[0]


def test_default_log_is_the_stderr_of_the_call():
    """The default follows sys.stderr when train runs, so redirect_stderr captures it."""
    task = make_task("copy", length=4, n_eval=20)
    captured = io.StringIO()
    with contextlib.redirect_stderr(captured):
        train(tiny_model(task), task, TrainConfig(steps=3, batch_size=4, eval_interval=3))
    assert captured.getvalue().startswith("step 3/3")


def test_text_training_and_sampling(tmp_path):
    data = CharDataset(TEXT, block_size=16, n_eval=10)
    model = tiny_model(data)
    history = train(model, data,
                    TrainConfig(steps=40, batch_size=16, lr=1e-2, warmup_steps=5, eval_interval=20),
                    out=tmp_path / "text.npz", log=None)
    assert history.losses[0] > math.log(data.vocab.size) - 0.5
    assert np.mean(history.losses[-5:]) < 0.75 * history.losses[0]
    assert history.accuracy is None and history.eval_accuracies == [None, None]
    rebuilt = load_checkpoint(tmp_path / "text.npz").build_model()
    prompt = data.vocab.encode("the ")
    samples = [rebuilt.generate(prompt, 30, temperature=0.8, top_k=5, rng=np.random.default_rng(7))
               for _ in range(2)]
    assert np.array_equal(samples[0], samples[1]) and samples[0].shape == (34,)
    text = data.vocab.decode(samples[0])
    assert text.startswith("the ") and set(text) <= set(TEXT)


def test_keep_best_keeps_the_checkpoint_of_the_lowest_held_out_loss_and_says_so(tmp_path):
    data = CharDataset(TEXT, block_size=16, n_eval=10)
    log = io.StringIO()
    history = train(tiny_model(data), data,
                    TrainConfig(steps=12, batch_size=8, lr=3e-2, warmup_steps=1, eval_interval=2),
                    out=tmp_path / "last.npz", keep_best=tmp_path / "best.npz", log=log)
    best_step = history.eval_steps[int(np.argmin(history.eval_losses))]
    kept = load_checkpoint(tmp_path / "best.npz")
    assert kept.step == best_step and load_checkpoint(tmp_path / "last.npz").step == 12
    lines = [line for line in log.getvalue().splitlines() if line.startswith("step ")]
    improved = [step for i, step in enumerate(history.eval_steps)
                if history.eval_losses[i] < min(history.eval_losses[:i], default=math.inf)]
    assert [int(line.split()[1].split("/")[0]) for line in lines if "best so far, kept" in line] == improved
    again = load_checkpoint(tmp_path / "best.npz").build_model()
    assert math.isclose(evaluate(again, data, TrainConfig().eval_batch_size)[0], min(history.eval_losses),
                        rel_tol=1e-5)

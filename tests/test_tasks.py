"""transformer.tasks: the synthetic tasks, the held-out set, exact match and the text dataset."""
import numpy as np
import pytest

from transformer.tasks import (
    IGNORE,
    TASKS,
    CharDataset,
    Vocab,
    dataset_from_description,
    exact_match,
    make_task,
)

TEXT = "the quick brown fox jumps over the lazy dog. " * 20


def digits_to_int(digits, base):
    return int("".join(str(int(d)) for d in digits), base)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_shapes_dtypes_and_target_masking(name):
    task = make_task(name, length=5, n_eval=50)
    ids, targets = task.batch(np.random.default_rng(0), 7)
    assert ids.shape == targets.shape == (7, task.block_size)
    assert ids.dtype == targets.dtype == np.int64
    assert task.block_size == task.prompt_len + task.answer_len
    assert (ids[:, task.prompt_len] == task.sep).all()          # the separator follows the prompt
    assert (targets[:, : task.prompt_len] == IGNORE).all()       # no loss on prompt positions
    answer = targets[:, task.prompt_len:]
    assert (answer >= 0).all() and (answer < task.base).all()
    # targets are the next tokens: where both are known, targets[t] == ids[t + 1]
    assert (targets[:, task.prompt_len: -1] == ids[:, task.prompt_len + 1:]).all()


def test_answers_are_right():
    rng = np.random.default_rng(1)
    length = 6
    for name, expected in (("copy", lambda p: p), ("reverse", lambda p: p[::-1]), ("sort", sorted)):
        task = make_task(name, length=length, n_eval=10)
        ids, targets = task.batch(rng, 50)
        for row, target in zip(ids, targets):
            assert list(target[length:]) == list(expected(list(row[:length])))
    sort_ids, sort_targets = make_task("sort", length=length, n_eval=10).batch(rng, 50)
    assert (np.diff(sort_targets[:, length:], axis=1) >= 0).all()


@pytest.mark.parametrize("length, base", [(1, 10), (4, 10), (3, 7), (5, 2)])
def test_add_answers_are_sums(length, base):
    task = make_task("add", length=length, base=base, n_eval=1)
    ids, targets = task.batch(np.random.default_rng(2), 100)
    assert task.prompt_len == 2 * length + 1 and task.answer_len == length + 1
    assert (ids[:, length] == task.plus).all()
    for row, target in zip(ids, targets):
        a = digits_to_int(row[:length], base)
        b = digits_to_int(row[length + 1: 2 * length + 1], base)
        answer = target[task.prompt_len:][::-1]  # written least-significant digit first
        assert digits_to_int(answer, base) == a + b


def test_decode_shows_the_sequence():
    task = make_task("add", length=2, n_eval=1)
    ids, targets = task.frame(np.array([[4, 7, task.plus, 1, 5]]))
    assert task.vocab.decode(ids[0]) + task.vocab.decode(targets[0, -1:]) == "47+15=260"


def test_eval_set_is_fixed_distinct_and_disjoint_from_training():
    # 1000 possible prompts, 400 held out: an unfiltered batch of 64 would hit ~26 of them.
    task = make_task("copy", length=3, n_eval=400)
    ids, targets = task.eval_set()
    assert ids.shape == (400, task.block_size)
    held_out = {tuple(r) for r in ids[:, : task.prompt_len]}
    assert len(held_out) == 400
    again, _ = make_task("copy", length=3, n_eval=400).eval_set()
    assert (again == ids).all()
    rng = np.random.default_rng(3)
    seen = set()
    for _ in range(50):
        batch, _ = task.batch(rng, 64)
        seen |= {tuple(r) for r in batch[:, : task.prompt_len]}
    assert not seen & held_out
    assert len(seen) > 500  # the training side is still well covered


def test_batches_repeat_with_the_seed():
    task = make_task("sort", n_eval=20)
    a = task.batch(np.random.default_rng(5), 16)
    b = task.batch(np.random.default_rng(5), 16)
    assert all((x == y).all() for x, y in zip(a, b))


def test_exact_match_needs_the_whole_answer():
    task = make_task("reverse", length=3, n_eval=10)
    ids, targets = task.batch(np.random.default_rng(0), 4)
    logits = np.zeros(ids.shape + (task.vocab.size,), dtype=np.float32)
    answer_rows, answer_cols = np.nonzero(targets != IGNORE)
    logits[answer_rows, answer_cols, targets[answer_rows, answer_cols]] = 1.0  # perfect answers
    logits[:, 0, task.sep] = 5.0  # a wrong guess on a prompt position does not count
    assert exact_match(logits, targets).all() and task.accuracy(logits, targets) == 1.0
    logits[1, task.prompt_len + 2] = 0.0
    logits[1, task.prompt_len + 2, (targets[1, task.prompt_len + 2] + 1) % task.base] = 1.0  # one wrong digit
    assert list(exact_match(logits, targets)) == [True, False, True, True]
    assert task.accuracy(logits, targets) == 0.75


def test_task_errors():
    with pytest.raises(ValueError, match="unknown task 'mul'"):
        make_task("mul")
    with pytest.raises(ValueError, match="only 100 distinct prompts"):
        make_task("sort", length=2, n_eval=1000)
    with pytest.raises(ValueError, match=r"base=1 must lie in \[2, 36\]"):
        make_task("copy", base=1)
    with pytest.raises(ValueError, match=r"length=1000000000 must lie in \[1, 128\]"):
        make_task("copy", length=10**9)  # refused at once: base ** length is never computed


def test_vocab_roundtrip_and_errors():
    vocab = Vocab("abc =")
    ids = vocab.encode("a cab=")
    assert ids.dtype == np.int64 and vocab.decode(ids) == "a cab="
    with pytest.raises(ValueError, match=r"\['x', 'z'\] are not in the vocabulary"):
        vocab.encode("xaz")
    with pytest.raises(ValueError, match="distinct"):
        Vocab("aba")


def test_char_dataset_windows_and_splits():
    data = CharDataset(TEXT, block_size=16, val_fraction=0.1, n_eval=5)
    assert data.vocab.symbols == "".join(sorted(set(TEXT)))
    assert data.vocab.decode(data.vocab.encode(TEXT)) == TEXT
    assert len(data.train_data) + len(data.val_data) == len(TEXT)
    ids, targets = data.batch(np.random.default_rng(0), 8)
    assert ids.shape == targets.shape == (8, 16) and ids.dtype == np.int64
    assert (targets[:, :-1] == ids[:, 1:]).all()
    train_text = data.vocab.decode(data.train_data)
    for row, target in zip(ids, targets):
        assert data.vocab.decode(row) + data.vocab.decode(target[-1:]) in train_text
    val_ids, val_targets = data.eval_set()
    assert val_ids.shape == (5, 16)
    val_text = data.vocab.decode(data.val_data)
    assert all(data.vocab.decode(row) in val_text for row in val_ids)
    assert (data.eval_set()[0] == val_ids).all()
    assert data.accuracy(np.zeros((5, 16, data.vocab.size)), val_targets) is None


def test_char_dataset_errors(tmp_path):
    with pytest.raises(ValueError, match="validation split has 5 characters"):
        CharDataset("x" * 50, block_size=8)
    for n_eval in (0, -1):  # -1 would silently drop the last validation window
        with pytest.raises(ValueError, match=rf"n_eval={n_eval} must lie in \[1, "):
            CharDataset(TEXT, block_size=8, n_eval=n_eval)
    path = tmp_path / "t.txt"
    path.write_text(TEXT, encoding="utf-8")
    assert CharDataset.from_file(path, block_size=8).vocab.size == len(set(TEXT))


def test_dataset_from_description(tmp_path):
    task = make_task("add", length=3, base=8, n_eval=30)
    again = dataset_from_description(task.describe())
    assert repr(again) == repr(task) and (again.eval_set()[0] == task.eval_set()[0]).all()
    path = tmp_path / "t.txt"
    path.write_text(TEXT, encoding="utf-8")
    data = CharDataset.from_file(path, block_size=8)
    assert dataset_from_description(data.describe(), path).vocab.symbols == data.vocab.symbols
    described = data.describe()
    assert described["path"] == str(path) and len(described["sha256"]) == 64
    assert dataset_from_description(described).sha256 == data.sha256  # the recorded file is read again
    with pytest.raises(ValueError, match="a text file it does not record; give the file with --text"):
        dataset_from_description({**described, "path": None})
    path.write_text(TEXT + "x", encoding="utf-8")
    with pytest.raises(ValueError, match="has changed since this checkpoint was trained on it"):
        dataset_from_description(described)
    path.unlink()
    with pytest.raises(FileNotFoundError, match="is not there; give the file with --text FILE"):
        dataset_from_description(described)
    other = tmp_path / "other.txt"
    other.write_text("0123456789 " * 40, encoding="utf-8")
    with pytest.raises(ValueError, match="but the checkpoint was trained on"):
        dataset_from_description(data.describe(), other)

"""The command line as a user meets it: one-line errors and a non-zero status (never a
traceback), outputs checked before any work, Ctrl-C saving a checkpoint that resumes bit for
bit, quiet closed pipes, runs extended with --steps, threads chosen, tasks answered exactly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad
from minigrad.threads import get_num_threads, set_num_threads
from transformer.cli import main
from transformer.train import load_checkpoint

ROOT = Path(__file__).parent.parent
TINY = ["--d-model", "16", "--n-heads", "2", "--n-layers", "1", "--batch-size", "8", "--quiet"]


def cli(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "transformer", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        **kwargs,
    )


@pytest.fixture(scope="module")
def copy_checkpoint(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("ck") / "copy.npz")
    assert (
        main(
            [
                "train",
                "--task",
                "copy",
                "--length",
                "3",
                "--eval-size",
                "20",
                "--steps",
                "4",
                "--out",
                path,
                *TINY,
            ]
        )
        == 0
    )
    return path


def one_line_error(done: subprocess.CompletedProcess, command: str, message: str) -> None:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"minigrad-transformer {command}: error:") and message in done.stderr, (
        done.stderr
    )


def test_user_errors_are_one_line_with_status_1(tmp_path, copy_checkpoint):
    text = tmp_path / "t.txt"
    text.write_text("the keeper climbs the stair. " * 40, encoding="utf-8")
    (tmp_path / "file").write_text("x")
    bad = tmp_path / "bad.npz"
    minigrad.save({"model.w": np.zeros(2, np.float32)}, bad)
    cases = [
        (["train", "--out", str(tmp_path)], "is a directory"),
        (["train", "--text", str(tmp_path)], "is a directory"),
        (["train", "--out", str(tmp_path / "file" / "sub.npz")], "is a file, not a directory"),
        (["train", "--text", str(text), "--out", str(text)], "is also an input"),
        (
            ["train", "--text", str(text), "--task", "sort"],
            "--task choose a task; they cannot go with --text",
        ),
        (["train", "--block-size", "8"], "--block-size go with --text only"),
        (["train", "--resume", copy_checkpoint, "--lr", "0.1"], "--lr cannot be changed"),
        (["train", "--resume", copy_checkpoint, "--steps", "2"], "fewer than the 4 steps already trained"),
        (["eval", str(bad)], "not a minigrad model file"),
        (["eval", str(tmp_path / "missing.npz")], "no such file"),
        (["render-graph", copy_checkpoint, "-o", copy_checkpoint], "is also an input"),
        (["render-attention", copy_checkpoint, "-o", copy_checkpoint], "is also an input"),
        (["render-graph", copy_checkpoint, "-o", str(tmp_path / "a.jpg")], ".jpg is not a format"),
        (["faq", "q4", "--quick", "--out", str(tmp_path / "file")], "is a file; give a directory"),
    ]
    for argv, message in cases:
        one_line_error(cli(*argv), argv[0], message)
    assert (tmp_path / "file").read_text() == "x" and text.read_text().startswith("the keeper")


@pytest.mark.parametrize(
    "argv",
    [
        ["eval", "CK", "--batch-size", "0"],
        ["eval", "CK", "--batch-size", "-1"],
        ["sample", "CK", "--length", "-5"],
        ["sample", "CK", "--temperature", "nan"],
        ["train", "--lr", "inf"],
        ["train", "--lr", "nan"],
        ["train", "--threads", "0"],
        ["train", "--dropout", "1"],
    ],
)
def test_bad_numbers_are_refused_by_the_parser(argv, copy_checkpoint, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([copy_checkpoint if a == "CK" else a for a in argv])
    assert exit_info.value.code == 2 and "expected a" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path):
    done = cli("eval", str(tmp_path / "missing.npz"), "--debug")
    assert done.returncode != 0 and "Traceback" in done.stderr


def test_a_closed_pipe_ends_quietly(copy_checkpoint):
    reader, writer = os.pipe()
    os.close(reader)  # nobody reads: the first write fails with EPIPE
    with os.fdopen(writer, "w") as out:
        done = subprocess.run(
            [sys.executable, "-m", "transformer", "eval", copy_checkpoint],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            timeout=300,
        )
    assert done.returncode == 141 and done.stderr == ""


def test_sample_on_a_task_completes_exactly_the_answer(copy_checkpoint, capsys):
    assert main(["sample", copy_checkpoint, "--prompt", "123", "--temperature", "0"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("123=") and len(line) == len("123=") + 3  # a copy answer has 3 digits


def test_threads_can_be_set_after_numpy_is_imported():
    before = get_num_threads()
    try:
        set_num_threads(1)
        assert get_num_threads() == 1
    finally:
        set_num_threads(before)
    with pytest.raises(ValueError, match="positive integer"):
        set_num_threads(0)


def test_every_example_that_trains_chooses_its_blas_threads():
    trains = [p for p in sorted((ROOT / "examples").glob("*.py"))
              if "from transformer.train import" in p.read_text(encoding="utf-8")]
    assert trains  # train_sort.py, train_text.py, ...
    unset = [p.name for p in trains if "minigrad.set_num_threads(" not in p.read_text(encoding="utf-8")]
    assert not unset, f"these examples train with numpy's default thread count: {unset}"


def test_ctrl_c_saves_a_checkpoint_that_resumes_bit_for_bit(tmp_path):
    steps = 1500
    args = [
        "train",
        "--task",
        "copy",
        "--length",
        "3",
        "--eval-size",
        "20",
        "--steps",
        str(steps),
        "--eval-interval",
        "50",
        "--d-model",
        "16",
        "--n-heads",
        "2",
        "--n-layers",
        "1",
        "--batch-size",
        "8",
    ]
    whole = tmp_path / "whole.npz"
    assert cli(*args, "--quiet", "--out", str(whole)).returncode == 0
    cut = tmp_path / "cut.npz"
    child = subprocess.Popen(
        [sys.executable, "-m", "transformer", *args, "--out", str(cut)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = child.stderr.readline()  # the first evaluation's line: training is under way
    assert first.startswith(f"step 50/{steps}"), first
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 130, err
    assert "Traceback" not in err and f"resume with: minigrad-transformer train --resume {cut}" in err
    stopped = load_checkpoint(cut).step
    assert 50 <= stopped < steps
    assert cli("train", "--resume", str(cut), "--quiet").returncode == 0
    a, b = load_checkpoint(whole), load_checkpoint(cut)
    assert b.step == steps and b.history.losses == a.history.losses
    assert all(np.array_equal(a.weights[k], b.weights[k]) for k in a.weights)


def test_sample_says_when_the_prompt_is_longer_than_the_context(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("the keeper climbs the stair. " * 40, encoding="utf-8")
    path = str(tmp_path / "t.npz")
    assert (
        main(["train", "--text", str(text), "--block-size", "8", "--steps", "2", "--out", path, *TINY]) == 0
    )
    capsys.readouterr()
    assert main(["sample", path, "--prompt", "the keeper climbs", "--length", "3"]) == 0
    captured = capsys.readouterr()
    assert "the prompt has 17 characters but the model's context holds max_len = 8" in captured.err
    assert captured.out.startswith("the keeper climbs")
    assert main(["eval", path]) == 0  # the checkpoint records its text file: no --text needed
    assert "held-out loss" in capsys.readouterr().out


def test_an_unwritable_output_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    import minigrad.atomic

    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    def access(path, mode):  # the tests may run as root, who can write anywhere: pretend
        return False if os.fspath(path) == str(locked) else real_access(path, mode)

    monkeypatch.setattr(minigrad.atomic.os, "access", access)
    out = locked / "run.npz"
    status = main(["train", "--task", "copy", "--steps", "100000", "--out", str(out), *TINY])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1 and f"{locked} is not writable" in err
    assert list(locked.iterdir()) == []


def test_threads_option_sets_the_blas_threads(copy_checkpoint, capsys):
    before = get_num_threads()
    try:
        assert main(["eval", copy_checkpoint, "--threads", "2"]) == 0
        assert get_num_threads() == 2
        assert main(["eval", copy_checkpoint]) == 0
        assert get_num_threads() == 1  # the default, whatever the process had before
    finally:
        set_num_threads(before)
    capsys.readouterr()


def test_faq_writes_under_runs_shows_progress_and_marks_quick_charts(tmp_path):
    from transformer.faq.svg_chart import QUICK_NOTE

    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path)
    done = subprocess.run([sys.executable, "-m", "transformer", "faq", "q5", "--quick"], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("q5: running (quick); figures go to runs/faq") and "steps" in done.stderr
    figures = sorted((tmp_path / "runs" / "faq").glob("*.svg"))
    assert figures and all(QUICK_NOTE in f.read_text(encoding="utf-8") for f in figures)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]  # nothing beside it, no docs/

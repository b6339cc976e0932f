"""transformer.cli: every option is documented, and train / eval / sample work end to end."""
import argparse
import dataclasses
import subprocess
import sys

import pytest

from transformer import TransformerConfig
from transformer.cli import COMMANDS, build_parser, main
from transformer.train import TEXT_TRAIN, TrainConfig, load_checkpoint

TINY = ["--d-model", "16", "--n-heads", "2", "--n-layers", "1", "--batch-size", "8", "--quiet"]


def subparsers():
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_lists_and_explains_every_option(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for action in subparsers()[command]._actions:
        assert action.help and action.help != argparse.SUPPRESS, f"{command}: {action.dest} has no help"
        for flag in action.option_strings or [action.dest]:
            assert flag in text, f"{command} --help does not mention {flag}"


def test_top_level_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert all(name in text for name in COMMANDS)


def test_python_dash_m_runs_the_command():
    result = subprocess.run([sys.executable, "-m", "transformer", "train", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "--steps" in result.stdout


def test_train_eval_and_resume_on_a_task(tmp_path, capsys):
    path = str(tmp_path / "copy.npz")
    assert main(["train", "--task", "copy", "--length", "4", "--eval-size", "50", "--steps", "6",
                 "--eval-interval", "3", "--out", path, *TINY]) == 0
    out = capsys.readouterr().out
    assert "done: 6 steps" in out and "exact match" in out and path in out
    checkpoint = load_checkpoint(path)
    assert checkpoint.step == 6 and checkpoint.model_config.d_model == 16
    assert checkpoint.data["task"] == "copy"
    # what was not given comes from the library's own defaults
    assert checkpoint.train_config == TrainConfig(steps=6, eval_interval=3, batch_size=8)
    assert checkpoint.model_config == TransformerConfig(vocab_size=checkpoint.model_config.vocab_size,
                                                        max_len=checkpoint.model_config.max_len,
                                                        d_model=16, n_heads=2, n_layers=1)

    assert main(["eval", path, "--greedy", "--examples", "2"]) == 0
    out = capsys.readouterr().out
    assert "held-out loss" in out and "greedy decoding exact match" in out
    assert out.count("=") >= 2  # the examples, e.g. "5027= 5027   (right)"


def test_resume_through_the_cli(tmp_path, capsys):
    path = str(tmp_path / "sort.npz")
    main(["train", "--task", "sort", "--length", "4", "--eval-size", "50", "--steps", "4", "--out", path,
          *TINY])
    capsys.readouterr()
    assert main(["train", "--resume", path, "--quiet"]) == 0
    assert "has finished its 4 steps; give --steps N" in capsys.readouterr().out
    assert load_checkpoint(path).step == 4
    assert main(["train", "--resume", path, "--steps", "6", "--quiet"]) == 0  # extends the run
    assert "resuming" in capsys.readouterr().out and load_checkpoint(path).step == 6
    assert load_checkpoint(path).train_config.steps == 6


def test_train_on_text_then_sample(tmp_path, capsys):
    text = tmp_path / "story.txt"
    text.write_text("a light on the rock, turning and turning in the night.\n" * 20, encoding="utf-8")
    path = str(tmp_path / "story.npz")
    assert main(["train", "--text", str(text), "--block-size", "16", "--steps", "4", "--out", path,
                 *TINY]) == 0
    capsys.readouterr()
    # the text settings shared with examples/train_text.py, and the best held-out loss kept beside
    assert load_checkpoint(path).train_config == dataclasses.replace(TEXT_TRAIN, steps=4, batch_size=8)
    assert load_checkpoint(tmp_path / "story.best.npz").step in load_checkpoint(path).history.eval_steps
    assert main(["sample", path, "--prompt", "a light", "--length", "20", "--top-k", "3", "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("a light") and len(first.rstrip("\n")) >= 27
    main(["sample", path, "--prompt", "a light", "--length", "20", "--top-k", "3", "--seed", "1"])
    assert capsys.readouterr().out == first  # the seed fixes the sample
    assert main(["eval", path, "--text", str(text)]) == 0
    assert "held-out loss" in capsys.readouterr().out


def test_errors_are_reported_without_a_traceback(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "missing.npz")]) == 1
    assert "no such file" in capsys.readouterr().err
    path = str(tmp_path / "copy.npz")
    main(["train", "--task", "copy", "--length", "4", "--eval-size", "20", "--steps", "2", "--out", path,
          *TINY])
    capsys.readouterr()
    assert main(["sample", path, "--prompt", "12x"]) == 1
    assert "not in the vocabulary" in capsys.readouterr().err


def test_train_a_llama_style_model_from_the_command_line(tmp_path, capsys):
    path = str(tmp_path / "sort.npz")
    assert main(["train", "--task", "sort", "--length", "4", "--eval-size", "20", "--steps", "4",
                 "--d-model", "16", "--n-heads", "4", "--n-layers", "1", "--batch-size", "8", "--quiet",
                 "--norm-first", "--pos-encoding", "rope", "--norm", "rmsnorm", "--activation", "swiglu",
                 "--n-kv-heads", "2", "--rope-theta", "500", "--no-bias", "--out", path]) == 0
    assert "done: 4 steps" in capsys.readouterr().out
    config = load_checkpoint(path).model_config
    assert (config.pos_encoding, config.norm, config.activation, config.n_kv_heads) == ("rope", "rmsnorm",
                                                                                       "swiglu", 2)
    assert config.rope_theta == 500.0 and config.bias is False and config.norm_first
    assert main(["eval", path]) == 0

"""transformer.cli render-graph and render-attention: the files they write hold the model's
modules and the input's tokens, and bad input ends with a one-line error and exit status 1."""
import re
import shutil

import pytest

from transformer.cli import main
from transformer.train import load_checkpoint

TINY = ["--d-model", "16", "--n-heads", "2", "--n-layers", "2", "--batch-size", "8", "--quiet"]
needs_graphviz = pytest.mark.skipif(shutil.which("dot") is None or shutil.which("neato") is None,
                                    reason="Graphviz's dot and neato programs are not installed")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A sort-4-digits model with 2 layers of 2 heads, trained for 2 steps."""
    path = tmp_path_factory.mktemp("render") / "sort.npz"
    assert main(["train", "--task", "sort", "--length", "4", "--eval-size", "50", "--steps", "2",
                 "--out", str(path), *TINY]) == 0
    return str(path)


def run(capsys, *argv):
    """(exit status, stdout, stderr) of the command line argv."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("command, options", [
    ("render-graph", ["--untrained", "--depth", "--grads", "--rankdir", "--format", "--out"]),
    ("render-attention", ["--input", "--layer", "--head", "--kind", "--threshold", "--format", "--out"]),
])
def test_help_lists_the_options(command, options, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert all(option in text for option in options)


def test_graph_at_depth_1_has_one_box_per_child_module(checkpoint, tmp_path, capsys):
    out = tmp_path / "graph.dot"
    status, printed, _ = run(capsys, "render-graph", checkpoint, "--format", "dot", "-o", str(out))
    assert status == 0 and str(out) in printed
    source = out.read_text()
    assert source.startswith("digraph")
    for name in ("tok_emb", "pos_emb", "blocks", "head", "CrossEntropy"):
        assert f"<b>{name}" in source
    assert "blocks.0" not in source  # collapsed into "blocks"


def test_deeper_graphs_open_the_blocks(checkpoint, tmp_path, capsys):
    # format from the suffix
    run(capsys, "render-graph", checkpoint, "--depth", "2", "-o", str(tmp_path / "d2.dot"))
    two = (tmp_path / "d2.dot").read_text()
    assert "<b>blocks.0" in two and "<b>blocks.1" in two and "MatMul" not in two
    run(capsys, "render-graph", checkpoint, "--depth", "full", "-o", str(tmp_path / "full.dot"))
    full = (tmp_path / "full.dot").read_text()
    assert "ScaledDotProductAttention" in full and "LayerNorm" in full and "blocks.1.attn" in full
    assert "|grad|" not in full
    run(capsys, "render-graph", checkpoint, "--depth", "0", "-o", str(tmp_path / "zero.dot"))
    assert (tmp_path / "zero.dot").read_text() == full  # 0 means full too
    run(capsys, "render-graph", checkpoint, "--depth", "full", "--grads", "--rankdir", "LR",
        "-o", str(tmp_path / "grads.dot"))
    grads = (tmp_path / "grads.dot").read_text()
    assert "rankdir=LR" in grads and "|grad|" in grads  # parameters show their gradient norms


@pytest.mark.parametrize("depth", ["1", "2", "3", "full"])
def test_every_depth_labels_the_ids_the_targets_and_the_mask(checkpoint, tmp_path, capsys, depth):
    out = tmp_path / "graph.dot"
    assert run(capsys, "render-graph", checkpoint, "--depth", depth, "-o", str(out))[0] == 0
    source = out.read_text()
    for label in ("ids", "targets", "positions", "causal mask"):
        assert re.search(rf"in\d+ \[[^\n]*label=<<b>{label}</b><br/>", source), (depth, label)


def test_grads_colour_the_boxes_at_the_default_depth(checkpoint, tmp_path, capsys):
    out = tmp_path / "grads.dot"
    assert run(capsys, "render-graph", checkpoint, "--grads", "-o", str(out))[0] == 0
    coloured = r"mod\d+ \[label=<<b>(\w+)</b>[^\n]*\|grad\| [0-9.e+-]+ \(all its parameters\)"
    boxes = re.findall(coloured, out.read_text())
    assert sorted(boxes) == ["blocks", "head", "pos_emb", "tok_emb"]


def test_untrained_model_and_default_path(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status, printed, _ = run(capsys, "render-graph", "--untrained", "--format", "dot")
    assert status == 0 and "runs/graph.dot" in printed
    assert "<b>blocks" in (tmp_path / "runs" / "graph.dot").read_text()


def test_attention_on_the_first_held_out_prompt(checkpoint, tmp_path, capsys):
    out = tmp_path / "attention.dot"
    status, printed, _ = run(capsys, "render-attention", checkpoint, "--layer", "1", "--head", "0", "-o",
                             str(out))
    assert status == 0 and str(out) in printed
    text = printed.split("input: ")[1].split("\n")[0]
    block_size = load_checkpoint(checkpoint).model_config.max_len
    assert len(text) == block_size and text[4] == "="  # 4 prompt digits, "=", the model's answer
    source = out.read_text()
    assert "layer 1, head 0" in source and "queries" in source and "keys" in source
    for i, token in enumerate(text):
        assert f"q{i} [label=<{token} " in source and f"k{i} [label=<{token} " in source
    assert f"q{block_size} " not in source


def test_attention_input_heatmap_and_grid(checkpoint, tmp_path, capsys):
    out = tmp_path / "heat.dot"
    status, printed, _ = run(capsys, "render-attention", checkpoint, "--input", "4213", "--kind", "heatmap",
                             "-o", str(out))
    assert status == 0 and "input: 4213=" in printed  # a bare prompt goes on with the model's answer
    source = out.read_text()
    assert "<table" in source
    assert all(f"layer {layer}, head {h}" in source for layer in (0, 1) for h in (0, 1))
    run(capsys, "render-attention", checkpoint, "--input", "42", "--threshold", "0", "-o",
        str(tmp_path / "g.dot"))
    grid = (tmp_path / "g.dot").read_text()
    assert grid.count(":e -> ") == 4 * 3  # 4 heads, each with 3 causal weights for 2 tokens, all above 0


@needs_graphviz
def test_svg_files(checkpoint, tmp_path, capsys):
    assert run(capsys, "render-graph", checkpoint, "-o", str(tmp_path / "g.svg"))[0] == 0
    assert run(capsys, "render-attention", checkpoint, "--format", "svg", "-o", str(tmp_path / "a"))[0] == 0
    for name in ("g.svg", "a.svg"):
        assert "<svg" in (tmp_path / name).read_text()


def test_missing_graphviz_is_a_clean_error(checkpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    status, _, err = run(capsys, "render-graph", checkpoint, "-o", str(tmp_path / "g.svg"))
    assert status == 1 and "render-graph: error:" in err and "Graphviz" in err and "Traceback" not in err
    assert not (tmp_path / "g.svg").exists()
    # dot needs no program
    assert run(capsys, "render-graph", checkpoint, "-o", str(tmp_path / "g.dot"))[0] == 0


@pytest.mark.parametrize("argv, message", [
    (["render-graph", "MISSING"], "no such file"),
    (["render-graph"], "either a CHECKPOINT or --untrained"),
    (["render-graph", "CHECKPOINT", "--untrained"], "either a CHECKPOINT or --untrained"),
    (["render-graph", "CHECKPOINT", "-o", "x.svg", "--format", "png"], "suffix .svg"),
    (["render-attention", "MISSING"], "no such file"),
    (["render-attention", "CHECKPOINT", "--layer", "5"], "layer 5 is out of range"),
    (["render-attention", "CHECKPOINT", "--head", "-3"], "head -3 is out of range"),
    (["render-attention", "CHECKPOINT", "--input", "12x"], "not in the vocabulary"),
    (["render-attention", "CHECKPOINT", "--input", "1234=123456"],
     "the model's context holds at most max_len = 8"),
])
def test_errors_name_the_problem(checkpoint, tmp_path, argv, message, capsys):
    argv = [checkpoint if a == "CHECKPOINT" else str(tmp_path / "missing.npz") if a == "MISSING" else a
            for a in argv]
    status, _, err = run(capsys, *argv, *([] if "-o" in argv else ["-o", str(tmp_path / "x.dot")]))
    assert status == 1 and message in err and err.startswith(f"minigrad-transformer {argv[0]}: error:")


@pytest.mark.parametrize("argv", [["render-graph", "CHECKPOINT", "--depth", "-1"],
                                  ["render-attention", "CHECKPOINT", "--threshold", "-1"],
                                  ["render-attention", "CHECKPOINT", "--threshold", "1"],  # no edge left
                                  ["render-attention", "CHECKPOINT", "--threshold", "2"]])
def test_bad_numbers_are_usage_errors(checkpoint, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([checkpoint if a == "CHECKPOINT" else a for a in argv])
    assert exit_info.value.code == 2
    assert f"argument {argv[2]}: expected a" in capsys.readouterr().err


def test_text_checkpoint_needs_an_input(tmp_path, capsys):
    text = tmp_path / "story.txt"
    text.write_text("the lamp turns, the lamp turns.\n" * 10, encoding="utf-8")
    path = str(tmp_path / "story.npz")
    main(["train", "--text", str(text), "--block-size", "8", "--steps", "2", "--out", path, *TINY])
    capsys.readouterr()
    status, _, err = run(capsys, "render-attention", path, "-o", str(tmp_path / "a.dot"))
    assert status == 1 and "give an --input" in err
    status, printed, _ = run(capsys, "render-attention", path, "--input", "the lamp", "--layer", "0",
                             "--head", "1",
                             "-o", str(tmp_path / "a.dot"))
    assert status == 0 and "input: the lamp" in printed
    assert "\u2423" in (tmp_path / "a.dot").read_text()  # the space, made visible

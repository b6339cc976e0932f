"""transformer.faq: each experiment runs in quick mode and its key claim holds on its own output.

Quick runs train for a few dozen steps only, so the training-based claims asserted here are the
ones that already hold that early; docs/faq.md records the full runs.
"""
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import minigrad
from transformer import TransformerConfig, TransformerLM
from transformer.cli import main
from transformer.faq import EXPERIMENTS, svg_chart
from transformer.faq.pattern_tasks import PatternTask, derangement
from transformer.faq.q5_head_dim import attention_flops
from transformer.faq.training import TrainSettings, train_variant
from transformer.tasks import IGNORE


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Every experiment once, in quick mode, with its figures in a temporary directory."""
    out = tmp_path_factory.mktemp("faq")
    return {name: run(quick=True, out_dir=out, seed=0) for name, run in EXPERIMENTS.items()}


def test_registry_names_the_five_questions():
    assert sorted(EXPERIMENTS) == ["q1", "q2", "q3", "q4", "q5"]


@pytest.mark.parametrize("name", ["q1", "q2", "q3", "q4", "q5"])
def test_each_experiment_prints_tables_and_writes_svg_figures(results, name):
    result = results[name]
    assert result.tables and all(t.rows for t in result.tables)
    assert result.figures
    for path in result.figures:
        if path.suffix == ".dot":  # a heatmap, without Graphviz installed to lay it out
            assert path.read_text(encoding="utf-8").startswith("digraph")
            continue
        root = ET.parse(path).getroot()  # well-formed XML
        assert root.tag.endswith("svg") and len(list(root.iter())) > 3


def test_q1_heads_help_with_two_patterns_but_not_with_one(results):
    f = results["q1"].facts
    assert f.parameters[1] == f.parameters[2] == f.parameters[4]
    assert all(len(s.values) >= 2 for s in f.final_accuracy.values())  # several seeds, even in quick mode
    for h in (1, 4):
        split = np.array(f.split[h])  # (h, 3): first, previous, elsewhere
        assert split.shape == (h, 3)
        np.testing.assert_allclose(split.sum(axis=1), 1.0, atol=1e-5)
    # Two patterns: 4 heads are ahead of one head in every seed.
    assert min(f.final_accuracy[4].values) > max(f.final_accuracy[1].values)
    # The control (one pattern): extra heads do not help; the single head is at least as good.
    assert f.control_loss[4].mean >= 0.9 * f.control_loss[1].mean
    assert f.control_mid_accuracy[4].mean <= f.control_mid_accuracy[1].mean + 0.02


def test_q1_ablation_and_sweep(results):
    f = results["q1"].facts
    a = f.ablation
    assert a["one head (the least needed)"].mean <= a["none"].mean + 1e-9
    assert a["one head (the most needed)"].mean <= a["one head (the least needed)"].mean
    # Removing every head that reads the first token costs more than removing the least needed head.
    assert a["every head on the first token"].mean < a["one head (the least needed)"].mean - 0.1
    assert sorted(f.sweep_text_loss) == sorted(f.sweep_accuracy) and 32 in f.sweep_text_loss
    assert all(0 < s.mean < math.log(60) for s in f.sweep_text_loss.values())  # below a uniform guess


def test_q2_shared_qk_scores_are_symmetric_and_the_diagonal_explains_part_of_the_failure(results):
    f = results["q2"].facts
    assert f.init_asymmetry[True].max < 1e-5 < 0.1 < f.init_asymmetry[False].min
    assert f.init_diagonal[True].min > 0.9 > 0.3 > f.init_diagonal[False].max
    for key, m in f.trained.items():
        heads, shared, masked = key
        if shared:
            assert m.asymmetry < 1e-5, key  # still symmetric after training
        else:
            assert m.asymmetry > 0.1, key
        if masked:
            assert m.on_itself.max == 0.0, key  # the mask holds
    separate, shared = f.trained[1, False, False], f.trained[1, True, False]
    # One head must attend to the previous token; separate Q and K do, shared do not.
    assert separate.on_previous.mean > 2 * shared.on_previous.mean
    assert separate.accuracy.mean > shared.accuracy.mean + 0.3
    # Control: with its own position forbidden, shared QK recovers a large part of the gap ...
    shared_masked = f.trained[1, True, True]
    assert shared_masked.accuracy.mean > shared.accuracy.mean + 0.2
    assert shared_masked.on_previous.mean > 2 * shared.on_previous.mean
    # ... while the mask changes little for separate Q and K, which never looked at themselves.
    assert abs(f.trained[1, False, True].accuracy.mean - separate.accuracy.mean) < 0.1


def test_q3_additive_scores_cost_as_many_flops_but_far_more_memory(results):
    cost = results["q3"].facts.cost
    for (score, T, d_k), additive in cost.items():
        if score == "additive":
            dot = cost["dot", T, d_k]
            assert 1 < additive.flops / dot.flops < 2, (T, d_k)  # the same order of arithmetic
            assert additive.peak_mib > 2 * dot.peak_mib, (T, d_k)
            assert dot.seconds > 0 and additive.seconds > 0


def test_q3_without_the_scale_additive_scores_saturate_too(results):
    trained = results["q3"].facts.trained
    large = max(d for d, _ in trained)
    for scoring in ("dot", "additive"):
        scaled, unscaled = (trained[large, f"{scoring}, {s}"].initial_entropy for s in ("scaled", "unscaled"))
        assert unscaled.max < 0.5 * scaled.min, scoring  # near one-hot attention from the first step
        assert len(scaled.values) == 2  # quick mode: two seeds


def test_q4_unscaled_softmax_saturates_and_its_gradient_vanishes(results):
    f = results["q4"].facts

    def means(key, scaled):
        return [s.mean for s in f.random[key, scaled]]

    assert f.d_k[0] == 4 and f.d_k[-1] == 1024
    unscaled, scaled = means("entropy", False), means("entropy", True)
    assert all(b < a for a, b in zip(unscaled, unscaled[1:]))  # falls at every doubling of d_k
    assert unscaled[-1] < 0.1 * unscaled[0]
    assert max(scaled) - min(scaled) < 0.25 and min(scaled) > 0.8 * f.log_n_keys  # level, near uniform
    assert means("grad_scores", False)[-1] < 1e-3 * means("grad_scores", True)[-1]  # collapses
    assert max(means("grad_scores", True)) < 1.5 * min(means("grad_scores", True))
    assert means("one_hot", False)[-1] > 0.5 and max(means("one_hot", True)) == 0.0
    std = np.array(means("score_std", False)) / np.sqrt(f.d_k)
    np.testing.assert_allclose(std, 1.0, atol=0.15)  # std(q.k) = sqrt(d_k)
    np.testing.assert_allclose(means("score_std", True), 1.0, atol=0.15)


def test_q4_the_gradient_reaching_q_is_larger_unscaled_until_the_softmax_saturates(results):
    f = results["q4"].facts
    unscaled, scaled = f.random["grad_q", False], f.random["grad_q", True]
    ratio = {d: u.mean / s.mean for d, u, s in zip(f.d_k, unscaled, scaled)}
    assert all(ratio[d] > 1.5 for d in (4, 8, 16, 32, 64))  # the scale shrinks what reaches q
    assert ratio[1024] < 0.01  # until saturation takes it all away


def test_q4_with_the_scale_matched_at_init_unscaled_attention_still_collapses(results):
    trained = results["q4"].facts.trained
    d_k = max(d for d, _ in trained)
    scaled, unscaled, matched = (trained[d_k, n] for n in ("q.k / sqrt(d_k)", "q.k", "q.k, init matched"))
    # The control starts as the scaled model does: the same scores, so the same entropy ...
    np.testing.assert_allclose(matched.initial_entropy.values, scaled.initial_entropy.values, atol=1e-4)
    assert unscaled.initial_entropy.max < 0.3 * scaled.initial_entropy.min
    # ... and training still drives its attention towards one-hot, the scaled model's much less.
    assert matched.min_entropy.max < 0.6 * scaled.min_entropy.min
    assert matched.entropy_steps == scaled.entropy_steps and matched.entropy_steps[0] == 0


def test_q5_reduced_heads_cost_what_one_head_costs(results):
    cost = results["q5"].facts.cost
    d_model = max(d for _, d in cost)
    for h in (2, 4):
        reduced, full = cost[h, d_model // h], cost[h, d_model]
        assert reduced.params == cost[1, d_model].params and reduced.flops == cost[1, d_model].flops
        assert full.params > reduced.params
        assert full.flops == h * reduced.flops


def test_q5_a_head_much_smaller_than_the_sequence_cannot_learn_a_permutation(results):
    lookup = results["q5"].facts.lookup
    assert lookup[8, 1].accuracy.max < 0.5  # one head of size 1 on 8 positions
    assert lookup[8, 8].accuracy.min > 0.9  # of size T, in every seed
    assert lookup[8, 1].loss.min > 5 * lookup[8, 8].loss.max


def test_attention_flops_formula():
    # h = 2, d_k = 3, d = 4, T = 5: 4 projections of 2*T*d*(h d_k), scores and weights@v 2*h*T^2*d_k each
    assert attention_flops(4, 2, 3, 5) == 4 * 2 * 5 * 4 * 6 + 2 * 2 * 2 * 25 * 3


def test_pattern_task_targets():
    task = PatternTask("first_and_previous", length=5, base=3, n_eval=4)
    ids, targets = task.frame(np.array([[2, 0, 1, 1, 2]]))
    assert targets.tolist() == [[IGNORE, 3 * 2 + 2, 3 * 2 + 0, 3 * 2 + 1, 3 * 2 + 1]]
    _, targets = PatternTask("previous", length=5, base=3).frame(ids)
    assert targets.tolist() == [[IGNORE, 2, 0, 1, 1]]
    assert task.vocab.size == 9
    with pytest.raises(ValueError, match="unknown rule 'next'"):
        PatternTask("next")
    with pytest.raises(ValueError, match="needs 49 output tokens"):
        PatternTask("first_and_previous", base=7)


def test_permuted_task_looks_each_position_up_elsewhere():
    order = derangement(8)
    assert sorted(order) == list(range(8)) and not (order == np.arange(8)).any()
    assert (derangement(8) == order).all()  # fixed: the same task in every run
    x = np.random.default_rng(0).integers(0, 10, (3, 8))
    _, targets = PatternTask("permuted", length=8).frame(x)
    assert (targets[:, 0] == IGNORE).all()
    np.testing.assert_array_equal(targets[:, 1:], x[:, order[1:]])


def test_reading_the_entropy_during_training_does_not_change_the_run():
    settings = TrainSettings.quick(n_heads=1, steps=12, eval_interval=6)
    whole = train_variant(settings, 0)
    pieces = train_variant(settings, 0, entropy_at=(4, 8))
    assert pieces.history.losses == whole.history.losses  # resumed from checkpoints, exactly
    assert pieces.entropy_steps == [0, 4, 8] and len(pieces.entropies) == 3
    assert pieces.entropies[0] == whole.initial_entropy
    with pytest.raises(ValueError, match="entropy_at must be increasing steps in 1..12"):
        train_variant(settings, 0, entropy_at=(8, 4))


@pytest.mark.parametrize("options", [
    {"scale": False, "head_dim": 6},              # Q4 at a large d_k
    {"shared_qk": True, "causal": False},         # Q2
    {"score": "additive", "head_dim": 5},         # Q3
    {"score": "additive", "scale": False},        # Q3
    {"n_heads": 1, "head_dim": 4},                # Q5: d_k = d_model
])
def test_the_trained_variants_pass_gradcheck(options):
    minigrad.manual_seed(0)
    config = dict(vocab_size=5, max_len=4, d_model=4, n_heads=2, n_layers=1, d_ff=8)
    model = TransformerLM(TransformerConfig(**{**config, **options})).to(np.float64)
    rng = np.random.default_rng(0)
    ids, targets = rng.integers(0, 5, (2, 4)), rng.integers(0, 5, (2, 4))
    assert minigrad.gradcheck(lambda *_: model(ids, targets)[1], list(model.parameters()))


def test_svg_line_chart_handles_log_axes_and_skips_bad_points():
    chart = svg_chart.line_chart([svg_chart.Series("a", [4, 16, 64], [1.0, float("nan"), 1e-4])],
                                 title="t <&>", xlabel="x", ylabel="y", log_x=2, log_y=10)
    root = ET.fromstring(chart)
    assert root.tag.endswith("svg")
    assert "t &lt;&amp;&gt;" in chart
    with pytest.raises(ValueError, match="no finite points"):
        svg_chart.line_chart([svg_chart.Series("a", [1], [float("nan")])], title="t", xlabel="x", ylabel="y")


def test_cli_runs_a_question(tmp_path, capsys):
    assert main(["faq", "q4", "--quick", "--out", str(tmp_path)]) == 0  # the quickest of the five
    out = capsys.readouterr().out
    assert "## q4 (quick mode" in out and "|  d_k |" in out
    assert (tmp_path / "q4_entropy.svg").exists()

"""The FAQ experiments' shared toolkit: spreads over seeds, timing, attention read-out, seed bands."""
import math
import re
import shutil
import statistics
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import minigrad
from transformer import TransformerConfig, TransformerLM
from transformer.attention import record_attention
from transformer.faq import svg_chart
from transformer.faq.readout import attention_entropy, attention_weights, heatmaps
from transformer.faq.report import Table
from transformer.faq.stats import QUICK_SEEDS, SEEDS, Spread, median_time, seed_list, t_quantile_975


def test_spread_is_mean_sample_sd_and_a_t_interval():
    values = [0.476, 0.70, 0.62, 0.71, 0.69]
    s = Spread.of(values)
    assert s.n == 5 and s.values == tuple(values)
    assert s.mean == pytest.approx(statistics.fmean(values))
    assert s.sd == pytest.approx(statistics.stdev(values))  # n - 1 in the denominator
    assert s.half_width == pytest.approx(2.776 * s.sd / math.sqrt(5))  # t with 4 df, not 1.96
    assert s.low < s.mean < s.high and s.high - s.mean == pytest.approx(s.mean - s.low)
    assert str(s) == f"{s.mean:.3f} ± {s.sd:.3f}" and s.interval() == f"[{s.low:.3f}, {s.high:.3f}]"
    one = Spread.of([0.5])
    assert (one.sd, one.low, one.high, str(one)) == (0.0, 0.5, 0.5, "0.500")
    with pytest.raises(ValueError, match="no values"):
        Spread.of([])


def test_t_quantiles_match_the_published_table_and_approach_the_normal():
    assert t_quantile_975(1) == 12.706 and t_quantile_975(4) == 2.776 and t_quantile_975(30) == 2.042
    for df, published in ((40, 2.021), (60, 2.000), (120, 1.980)):
        assert t_quantile_975(df) == pytest.approx(published, abs=1e-3)
    assert 1.96 < t_quantile_975(10_000) < 1.961
    with pytest.raises(ValueError, match="df >= 1"):
        t_quantile_975(0)


def test_seed_lists_and_table_cells():
    assert seed_list(3, quick=False) == tuple(range(3, 3 + SEEDS)) and SEEDS >= 5
    assert seed_list(0, quick=True) == tuple(range(QUICK_SEEDS))
    table = Table("t", ["a", "b"], [[Spread.of([1.0, 3.0]), 2e-4]])
    assert "| 2.000 ± 1.414 | 2.00e-04 |" in table.markdown()


def test_median_time_is_the_median_of_the_samples():
    calls = []
    seconds = median_time(lambda: calls.append(1), repeats=3, min_time=0.0)
    assert seconds >= 0 and len(calls) == 2 + 3  # warm-up, calibration, 3 samples of one loop


@pytest.fixture(scope="module")
def model():
    minigrad.manual_seed(0)
    return TransformerLM(TransformerConfig(vocab_size=7, max_len=6, d_model=8, n_heads=2, n_layers=2))


def test_attention_read_out_is_the_models_own_batch_attention(model):
    ids = np.random.default_rng(0).integers(0, 7, (3, 5))
    weights = attention_weights(model, ids, layer=1)
    with minigrad.no_grad(), record_attention(model):
        model(ids)
    np.testing.assert_allclose(weights, model.blocks[1].attn.attn_weights, atol=1e-6)
    uniform = np.full((2, 4, 4), 0.25)
    assert attention_entropy(uniform) == pytest.approx(math.log(4))
    assert attention_entropy(np.eye(4)) == 0.0


def test_seed_bands_span_min_to_max_and_are_drawn_under_the_lines():
    series = svg_chart.Series.over_seeds("a", [1, 2, 3], [[1.0, 2.0, 3.0], [3.0, 2.0, 5.0]])
    assert series.ys == [2.0, 2.0, 4.0] and series.band == ([1.0, 2.0, 3.0], [3.0, 2.0, 5.0])
    assert svg_chart.Series.over_seeds("b", [1], [[1.0]]).band is None  # one seed: no band
    chart = svg_chart.line_chart([series], title="t", xlabel="x", ylabel="y")
    root = ET.fromstring(chart)
    assert chart.index("<polygon") < chart.index("<polyline")
    assert svg_chart.BAND_NOTE in chart and root.tag.endswith("svg")
    def heights(element: str) -> list[float]:  # the y pixel of each point of the first such element
        points = re.search(rf'<{element} points="([^"]+)"', chart).group(1)
        return [float(p.split(",")[1]) for p in points.split()]

    band, line = heights("polygon"), heights("polyline")
    assert 40 <= min(band) < min(line)  # the band's top (5) is above the line's (4) and inside the axes


def test_heatmaps_label_tokens_and_show_a_colour_scale(tmp_path):
    w = np.tril(np.ones((3, 3)))
    w /= w.sum(axis=1, keepdims=True)
    path = heatmaps([("head 0", w), ("head 1", w.T / w.T.sum(axis=1, keepdims=True))], ["<a>", "b", "c"],
                    tmp_path / "h.svg", title="two heads", columns=2)
    text = path.read_text(encoding="utf-8")
    if shutil.which("dot"):
        assert path.suffix == ".svg" and ET.fromstring(text).tag.endswith("svg")
    else:
        assert path.suffix == ".dot"
    assert "&lt;a&gt;" in text and "head 1" in text and "two heads" in text and "attention weight" in text

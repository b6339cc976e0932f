"""The attention explorer in a real browser (headless Chromium, network off): after its script
ran, the page has the head panels and tokens it should, reacts to the layer selector, to hovering
and to the head toggles, opens a head large, shows a weight on hover, stays usable at 128 tokens,
draws inside a notebook-style iframe, makes no request, and its screenshot is not blank.
Skipped without a chromium."""

from __future__ import annotations

import json

import numpy as np
import pytest
from browser import Browser, BrowserUnavailable, chromium_path, png_pixels

import minigrad
from transformer import TransformerConfig, TransformerLM
from transformer.viz import attention_explorer, model_attention

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no chromium browser installed")

LAYERS, HEADS = 3, 4
IDS = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3])
TOKENS = list("pi<digits>")  # "<" and ">" must show as text


@pytest.fixture(scope="module")
def browser():
    try:
        with Browser() as b:
            yield b
    except BrowserUnavailable as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def lm():
    minigrad.manual_seed(0)
    return TransformerLM(
        TransformerConfig(vocab_size=12, max_len=128, d_model=16, n_heads=HEADS, n_layers=LAYERS)
    )


@pytest.fixture(scope="module")
def page(lm, tmp_path_factory):
    return attention_explorer(lm, IDS, TOKENS).save(tmp_path_factory.mktemp("explorer") / "attention.html")


@pytest.fixture
def opened(browser, page):
    """The explorer freshly loaded (each test starts from the head view of layer 0)."""
    browser.open(page)
    yield browser
    assert browser.errors == []
    assert browser.requests == [page.resolve().as_uri()]  # its own file, nothing else


LINES = (
    "JSON.stringify([...document.querySelectorAll('#head-view line')]"
    ".map(l => [l.dataset.head, l.dataset.query, l.dataset.key, l.getAttribute('stroke-opacity')]))"
)


def lines(browser) -> list[list[str]]:
    return json.loads(browser.evaluate(LINES))


def choose(browser, select_id: str, value: int) -> None:
    browser.evaluate(
        f"(() => {{ const s = document.getElementById('{select_id}'); s.value = '{value}'; "
        "s.dispatchEvent(new Event('change')); })()"
    )


def test_head_view_has_a_token_per_position_on_each_side_and_lines_for_every_head(opened, lm):
    assert opened.evaluate("document.querySelectorAll('#head-view .token.query').length") == len(IDS)
    assert opened.evaluate("document.querySelectorAll('#head-view .token.key').length") == len(IDS)
    texts = opened.evaluate(
        "[...document.querySelectorAll('#head-view .token.query .text')].map(t => t.textContent)"
    )
    assert texts == TOKENS
    drawn = lines(opened)
    weights = model_attention(lm, IDS)[0][1]
    expected = {(str(h), str(i), str(j)) for h, i, j in np.argwhere(weights > 0.02)}
    assert {tuple(line[:3]) for line in drawn} == expected  # one line per weight above the threshold
    assert opened.evaluate("document.querySelectorAll('#heads .chip').length") == HEADS


def test_selecting_another_layer_changes_the_drawn_lines(opened, lm):
    first = lines(opened)
    choose(opened, "layer", 2)
    third = lines(opened)
    assert first and third and first != third
    weights = model_attention(lm, IDS)[2][1]
    for h, i, j, opacity in third:
        assert float(opacity) == pytest.approx(weights[int(h), int(i), int(j)], abs=1e-3)


def test_hovering_a_token_keeps_only_its_lines(opened):
    opened.evaluate(
        "document.querySelectorAll('#head-view .token.query')[6].dispatchEvent(new Event('mouseenter'))"
    )
    focused = lines(opened)
    assert focused and {line[1] for line in focused} == {"6"}
    shaded = opened.evaluate(
        "[...document.querySelectorAll('#head-view .token.key')].filter(t => t.style.background).length"
    )
    assert shaded == len(IDS)  # every key shaded by how much query 6 looks at it
    opened.evaluate(
        "document.querySelectorAll('#head-view .token.key')[2].dispatchEvent(new Event('mouseenter'))"
    )
    assert {line[2] for line in lines(opened)} == {"2"}
    opened.evaluate(
        "document.querySelectorAll('#head-view .token.key')[2].dispatchEvent(new Event('mouseleave'))"
    )
    assert len({line[1] for line in lines(opened)}) > 1


def test_head_toggles_hide_and_show_a_heads_lines(opened):
    assert {line[0] for line in lines(opened)} == {str(h) for h in range(HEADS)}
    opened.evaluate("document.querySelector('#heads .chip[data-head=\"1\"]').click()")
    assert "1" not in {line[0] for line in lines(opened)}
    opened.evaluate("document.getElementById('no-heads').click()")
    assert lines(opened) == []
    opened.evaluate("document.querySelector('#heads .chip[data-head=\"3\"]').click()")
    assert {line[0] for line in lines(opened)} == {"3"}


def test_model_view_has_a_panel_per_layer_and_head_and_a_click_opens_one(opened):
    opened.evaluate("document.querySelector('.tabs button[data-view=\"model\"]').click()")
    assert opened.evaluate("document.querySelectorAll('#model-view .head-panel').length") == LAYERS * HEADS
    assert opened.evaluate("document.getElementById('head-view').hidden")
    assert opened.evaluate("document.getElementById('detail').hidden")
    opened.evaluate("document.querySelector('.head-panel[data-layer=\"2\"][data-head=\"1\"]').click()")
    assert not opened.evaluate("document.getElementById('detail').hidden")
    assert opened.evaluate("document.getElementById('detail-title').textContent").endswith(
        "layer 2, head 1 (blocks.2.attn)"
    )
    heads = opened.evaluate(
        "[...new Set([...document.querySelectorAll('#detail line')].map(l => l.dataset.head))]"
    )
    assert heads == ["1"]
    assert opened.evaluate("document.querySelectorAll('#detail canvas').length") == 1  # and its matrix
    opened.evaluate("document.getElementById('detail-close').click()")
    assert opened.evaluate("document.getElementById('detail').hidden")


def test_matrix_view_shows_the_weight_under_the_pointer(opened, lm):
    opened.evaluate("document.querySelector('.tabs button[data-view=\"matrix\"]').click()")
    choose(opened, "layer", 1)
    choose(opened, "matrix-head", 3)
    i, j = 7, 4
    text = opened.evaluate(f"""(() => {{
        const canvas = document.querySelector('#matrix-view canvas');
        const box = canvas.getBoundingClientRect(), cell = box.width / {len(IDS)};
        canvas.dispatchEvent(new MouseEvent('mousemove', {{ clientX: box.left + ({j} + 0.5) * cell,
                                                            clientY: box.top + ({i} + 0.5) * cell }}));
        return document.getElementById('tooltip').textContent; }})()""")
    weight = model_attention(lm, IDS)[1][1][3, i, j]
    assert f"({i}) → " in text and f"({j})" in text and f"{weight:.4f}" in text
    lit = "[...document.querySelectorAll('#matrix-view .{}-labels span.lit')].map(s => s.textContent)"
    assert opened.evaluate(lit.format("row")) == [TOKENS[i]] and opened.evaluate(lit.format("column")) == [
        TOKENS[j]
    ]


def test_the_address_sets_the_view_and_the_screenshot_is_not_blank(browser, page):
    browser.open(f"{page}#view=model")
    assert not browser.evaluate("document.getElementById('model-view').hidden")
    pixels = png_pixels(browser.screenshot()).astype(np.float64)
    assert pixels.std() > 20  # a blank page has none; a thin line or two would be far below this
    background = pixels[-1, -1]
    assert (np.abs(pixels - background).max(axis=-1) > 24).mean() > 0.02  # thumbnails, not only text


def test_128_tokens_stay_usable_with_a_scrolling_page_and_a_fixed_bar(browser, lm, tmp_path):
    ids = np.random.default_rng(0).integers(0, 12, size=128)
    path = attention_explorer(lm, ids).save(tmp_path / "long.html")
    browser.open(path)
    assert browser.evaluate("document.querySelectorAll('#head-view .token').length") == 256
    assert browser.evaluate("document.scrollingElement.scrollHeight > 2 * innerHeight")
    browser.evaluate("window.scrollTo(0, 2000)")
    assert browser.evaluate("document.querySelector('header.bar').getBoundingClientRect().top") == 0
    browser.evaluate("document.querySelector('.tabs button[data-view=\"model\"]').click()")
    assert browser.evaluate("document.querySelectorAll('.head-panel').length") == LAYERS * HEADS
    assert (
        browser.evaluate(
            "Math.max(...[...document.querySelectorAll('.head-panel canvas')]"
            ".map(c => c.getBoundingClientRect().width))"
        )
        <= 100
    )
    assert browser.errors == []


def test_inside_an_iframe_as_in_a_notebook(browser, lm, tmp_path):
    wrapper = tmp_path / "notebook.html"
    wrapper.write_text(
        "<!DOCTYPE html><html><body><p>cell output:</p>"
        + attention_explorer(lm, IDS[:5], list("abcde"))._repr_html_()
        + "</body></html>",
        encoding="utf-8",
    )
    browser.open(
        wrapper, ready="document.querySelector('iframe').contentDocument?.body?.dataset.ready === 'true'"
    )
    count = "document.querySelector('iframe').contentDocument.querySelectorAll('.token').length"
    assert browser.evaluate(count) == 10
    assert browser.errors == []

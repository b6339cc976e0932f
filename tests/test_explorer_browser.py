"""The attention explorer in a real browser (headless Chromium, network off): after its script
ran, the page has the head panels and tokens it should, reacts to the layer selector, to hovering
and to the head toggles, opens a head large, shows a weight on hover, stays usable at 128 tokens,
draws inside a notebook-style iframe, makes no request, and its screenshot is not blank; the
graph explorer shows a tooltip per node, opens a module on click, pans and zooms. Skipped
without a chromium (the graph explorer also without Graphviz's dot)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from browser import Browser, BrowserUnavailable, chromium_path, png_pixels

import minigrad
from transformer import TransformerConfig, TransformerLM
from transformer.viz import attention_explorer, graph_explorer, model_attention

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


# ----- the graph explorer --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def graph_page(lm, tmp_path_factory):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is not installed")
    explorer = graph_explorer(lm, levels=1)
    return explorer, explorer.save(tmp_path_factory.mktemp("graph") / "graph.html")


def test_graph_nodes_have_tooltips_and_a_module_opens_on_click(browser, graph_page):
    explorer, path = graph_page
    browser.open(path)
    root = explorer.pages[0]
    assert browser.evaluate("document.querySelectorAll('#viewport g.node').length") == len(root.tooltips)
    assert browser.evaluate("document.querySelectorAll('#viewport g.node.openable').length") == len(
        root.opens
    )
    assert browser.evaluate("document.querySelectorAll('#viewport title').length") == 0  # no native tooltips
    for node_id, lines in list(root.tooltips.items())[:6]:
        text = browser.evaluate(f"""(() => {{
            const node = document.querySelector('#viewport g.node[data-id="{node_id}"]');
            node.dispatchEvent(new MouseEvent('mouseenter', {{ clientX: 200, clientY: 200 }}));
            return document.getElementById('tooltip').textContent; }})()""")
        assert text == "\n".join(lines)
    box = next(node for node, name in root.opens.items() if name == "blocks")
    browser.evaluate(
        f"document.querySelector('#viewport g.node[data-id=\"{box}\"]')"
        ".dispatchEvent(new MouseEvent('click', { bubbles: true }))"
    )
    blocks = next(p for p in explorer.pages if p.name == "blocks")
    assert browser.evaluate(
        "[...document.querySelectorAll('#breadcrumbs button')].map(b => b.textContent)"
    ) == [root.title, blocks.title]
    assert browser.evaluate("document.querySelectorAll('#viewport g.node').length") == len(blocks.tooltips)
    browser.evaluate("document.querySelector('#breadcrumbs button').click()")  # back to the model
    assert browser.evaluate("document.querySelectorAll('#viewport g.node').length") == len(root.tooltips)
    assert browser.errors == [] and browser.requests == [path.resolve().as_uri()]


def test_graph_pans_and_zooms_and_its_screenshot_is_not_blank(browser, graph_page):
    _, path = graph_page
    browser.open(path)
    transform = "document.querySelector('#viewport svg').style.transform"
    before = browser.evaluate(transform)
    browser.evaluate(
        "document.getElementById('viewport').dispatchEvent(new WheelEvent('wheel', "
        "{ deltaY: -100, clientX: 300, clientY: 300, bubbles: true, cancelable: true }))"
    )
    zoomed = browser.evaluate(transform)
    assert (
        float(browser.evaluate("document.querySelector('#viewport svg').dataset.scale")) > 0
        and zoomed != before
    )
    browser.evaluate("""(() => { const v = document.getElementById('viewport');
        v.dispatchEvent(new MouseEvent('mousedown', { clientX: 300, clientY: 300, bubbles: true }));
        window.dispatchEvent(new MouseEvent('mousemove', { clientX: 380, clientY: 340 }));
        window.dispatchEvent(new MouseEvent('mouseup', {})); })()""")
    panned = browser.evaluate(transform)
    assert panned != zoomed and "scale" in panned
    pixels = png_pixels(browser.screenshot()).astype(np.float64)
    assert pixels.std() > 15
    assert browser.errors == []


def test_an_encoder_decoders_kinds_are_selectable(browser, tmp_path):
    from test_explorer import TinySeq2Seq

    minigrad.manual_seed(0)
    src, tgt = np.array([1, 2, 3, 4, 5]), np.array([0, 6, 7])
    path = attention_explorer(TinySeq2Seq(), (src, tgt), (list("abcde"), list("xyz"))).save(
        tmp_path / "s2s.html"
    )
    browser.open(path)
    assert not browser.evaluate("document.getElementById('kind-control').hidden")
    assert browser.evaluate("[...document.querySelectorAll('#kind option')].map(o => o.textContent)") == [
        "encoder self-attention",
        "decoder self-attention",
        "cross-attention",
    ]
    count = (
        "[document.querySelectorAll('#head-view .token.query').length, "
        "document.querySelectorAll('#head-view .token.key').length]"
    )
    assert browser.evaluate(count) == [5, 5]
    choose(browser, "kind", 2)
    assert browser.evaluate(count) == [3, 5]
    keys = {line[2] for line in lines(browser)}
    assert (
        keys
        and keys <= {str(j) for j in range(5)}
        and {line[1] for line in lines(browser)} <= {"0", "1", "2"}
    )
    browser.evaluate("document.querySelector('.tabs button[data-view=\"model\"]').click()")
    assert browser.evaluate("document.querySelectorAll('.head-panel').length") == 4  # 2 layers x 2 heads
    browser.evaluate("document.querySelector('.tabs button[data-view=\"matrix\"]').click()")
    assert browser.evaluate(
        "[document.querySelector('#matrix-view canvas').width, "
        "document.querySelector('#matrix-view canvas').height]"
    ) == [5 * 36, 3 * 36]
    assert browser.errors == []

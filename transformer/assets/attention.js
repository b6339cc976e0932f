// The attention explorer. It reads the data embedded in the page (#explorer-data), decodes each
// layer's weights, and draws three views of them: head (two columns of tokens joined by lines),
// model (a thumbnail per layer and head) and matrix (one head as a heatmap).
//
// Data: { title, start: { view, layer, head, threshold }, kinds: [{ label, queries: [token], keys: [token],
//                          layers: [{ name, shape: [heads, queries, keys], weights: base64 }] }] }
// weights holds the float32 values, little-endian, in C order: weight (h, i, j) is at index
// (h * queries + i) * keys + j. The page state can be set in the address: #view=model&layer=1,
// #open=1,0 (layer 1, head 0 opened large), #focus=query,5 (query 5 as if hovered).
"use strict";

(function () {
  const ROW = 22;                  // pixels per token in the head view
  const LINES_WIDTH = 260;         // pixels between the two columns of tokens
  const THUMBNAIL = 96;            // largest side of a thumbnail in the model view, in pixels
  // One colour per head (Tableau 10, then two more); heads past 12 reuse them.
  const HEAD_COLOURS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
                        "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#1f77b4", "#8c564b"];
  const DARK = [8, 48, 107];       // a weight of 1 in heatmaps; 0 is white

  const data = JSON.parse(document.getElementById("explorer-data").textContent);
  const byId = (id) => document.getElementById(id);

  /** base64 of little-endian float32 bytes -> Float32Array. */
  function decodeWeights(text) {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let k = 0; k < binary.length; k++) bytes[k] = binary.charCodeAt(k);
    const view = new DataView(bytes.buffer);
    const values = new Float32Array(bytes.length / 4);
    for (let k = 0; k < values.length; k++) values[k] = view.getFloat32(4 * k, true);
    return values;
  }

  const kinds = data.kinds.map((kind) => ({
    label: kind.label,
    queries: kind.queries,
    keys: kind.keys,
    layers: kind.layers.map((layer) => ({
      name: layer.name,
      heads: layer.shape[0],
      values: decodeWeights(layer.weights),
      // weight(h, i, j): how much query i looks at key j in head h
      weight(h, i, j) { return this.values[(h * kind.queries.length + i) * kind.keys.length + j]; },
    })),
  }));

  const headColour = (h) => HEAD_COLOURS[h % HEAD_COLOURS.length];

  // Heatmap colours, white (0) to dark blue (1), in 256 steps: looked up, not computed, for each
  // of the 144 x 128 x 128 cells of a 12-layer, 12-head model's thumbnails.
  const RAMP = Array.from({ length: 256 }, (_, k) => DARK.map((d) => Math.round(255 + ((d - 255) * k) / 255)));

  /** The heatmap colour [r, g, b] of a weight in [0, 1]. */
  function shade(w) {
    return RAMP[Math.round(Math.max(0, Math.min(1, w)) * 255)];
  }

  // ----- state, and the address that can set it ---------------------------------------------
  const state = { view: data.start.view, kind: 0, layer: data.start.layer, heads: [],
                  threshold: data.start.threshold, matrixHead: data.start.head };

  function readAddress() {
    const fields = new URLSearchParams(location.hash.slice(1));
    const number = (key, fallback) => (fields.has(key) && !isNaN(+fields.get(key)) ? +fields.get(key) : fallback);
    if (["head", "model", "matrix"].includes(fields.get("view"))) state.view = fields.get("view");
    state.kind = clamp(number("kind", 0), 0, kinds.length - 1);
    state.layer = clamp(number("layer", state.layer), 0, kinds[state.kind].layers.length - 1);
    state.threshold = Math.max(0, Math.min(1, number("threshold", state.threshold)));
    resetHeads();
    state.matrixHead = clamp(number("head", state.matrixHead), 0, state.heads.length - 1);
    if (fields.has("heads")) {
      const on = new Set(fields.get("heads").split(",").filter((s) => s !== "").map(Number));
      state.heads = state.heads.map((_, h) => on.has(h));
    }
    return { open: fields.get("open"), focus: fields.get("focus") };  // "layer,head"; "query,i" or "key,j"
  }

  function writeAddress() {
    const heads = state.heads.map((on, h) => (on ? h : null)).filter((h) => h !== null).join(",");
    const text = `view=${state.view}&kind=${state.kind}&layer=${state.layer}&head=${state.matrixHead}` +
                 `&heads=${heads}&threshold=${state.threshold}`;
    try { history.replaceState(null, "", "#" + text); } catch (error) { /* in a notebook's iframe */ }
  }

  function clamp(x, low, high) { return Math.max(low, Math.min(high, Math.round(x))); }
  function resetHeads() { state.heads = Array(kinds[state.kind].layers[0].heads).fill(true); }

  function element(tag, attributes = {}, text = "") {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
    if (text) node.textContent = text;
    return node;
  }

  // ----- the tooltip --------------------------------------------------------------------------
  const tooltip = byId("tooltip");
  function showTooltip(text, event) {
    tooltip.textContent = text;
    tooltip.hidden = false;
    tooltip.style.left = Math.min(event.clientX + 14, innerWidth - tooltip.offsetWidth - 4) + "px";
    tooltip.style.top = Math.min(event.clientY + 14, innerHeight - tooltip.offsetHeight - 4) + "px";
  }
  function hideTooltip() { tooltip.hidden = true; }

  // ----- head view: two columns of tokens, a line per weight ----------------------------------
  /**
   * A two-column diagram inside `container`. draw(kind, layer, heads, threshold) draws the lines
   * of the heads whose entry in `heads` is true; hovering a token redraws only its lines and
   * shades the tokens on the other side by their weight (the largest over the heads shown).
   */
  function HeadDiagram(container) {
    const root = element("div", { class: "diagram" });
    root.style.setProperty("--row", ROW + "px");
    root.append(element("div", { class: "heading queries-heading" }, "queries"), element("div"),
                element("div", { class: "heading" }, "keys"));
    const queryColumn = element("div", { class: "token-column" });
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "lines");
    const keyColumn = element("div", { class: "token-column" });
    root.append(queryColumn, svg, keyColumn);
    container.replaceChildren(root);
    let shown = null;      // what draw() was last called with
    let focus = null;      // { side: "query" | "key", index }
    let tokensOf = null;   // the kind whose tokens are in the columns

    function fillColumn(column, tokens, side) {
      column.replaceChildren(...tokens.map((token, index) => {
        const node = element("div", { class: `token ${side}`, "data-side": side, "data-index": index });
        const position = element("span", { class: "position" }, String(index));
        const text = element("span", { class: "text" }, token);
        if (side === "query") node.append(text, position); else node.append(position, text);
        node.addEventListener("mouseenter", () => { focus = { side, index }; render(); });
        node.addEventListener("mouseleave", () => { focus = null; render(); });
        return node;
      }));
    }

    function render() {
      const { kind, layer, heads, threshold } = shown;
      const T = kind.queries.length, S = kind.keys.length;
      const height = Math.max(T, S) * ROW;
      svg.setAttribute("width", LINES_WIDTH);
      svg.setAttribute("height", height);
      svg.setAttribute("viewBox", `0 0 ${LINES_WIDTH} ${height}`);
      const y = (index) => index * ROW + ROW / 2;
      const lines = [];
      const strongest = new Float32Array(focus === null ? 0 : focus.side === "query" ? S : T);
      for (let h = 0; h < layer.heads; h++) {
        if (!heads[h]) continue;
        const colour = headColour(h);
        for (let i = 0; i < T; i++) {
          if (focus && focus.side === "query" && focus.index !== i) continue;
          for (let j = 0; j < S; j++) {
            if (focus && focus.side === "key" && focus.index !== j) continue;
            const w = layer.weight(h, i, j);
            if (focus) strongest[focus.side === "query" ? j : i] = Math.max(strongest[focus.side === "query" ? j : i], w);
            if (w <= threshold) continue;
            lines.push(`<line x1="0" y1="${y(i)}" x2="${LINES_WIDTH}" y2="${y(j)}" stroke="${colour}" ` +
                       `stroke-opacity="${Math.min(1, w).toFixed(3)}" stroke-width="${focus ? 3 : 2}" ` +
                       `data-head="${h}" data-query="${i}" data-key="${j}"><title>head ${h}: ` +
                       `${escapeText(kind.queries[i])} (${i}) → ${escapeText(kind.keys[j])} (${j}) ${w.toFixed(3)}</title></line>`);
          }
        }
      }
      svg.innerHTML = lines.join("");
      for (const node of queryColumn.children) shadeToken(node, focus && focus.side === "key" ? strongest[+node.dataset.index] : null);
      for (const node of keyColumn.children) shadeToken(node, focus && focus.side === "query" ? strongest[+node.dataset.index] : null);
      const focused = focus ? (focus.side === "query" ? queryColumn : keyColumn).children[focus.index] : null;
      for (const node of root.querySelectorAll(".token.focused")) node.classList.remove("focused");
      if (focused) focused.classList.add("focused");
    }

    function shadeToken(node, w) {
      if (w === null) { node.style.background = ""; node.style.color = ""; node.title = ""; return; }
      const [r, g, b] = shade(w);
      node.style.background = `rgb(${r}, ${g}, ${b})`;
      node.style.color = w > 0.55 ? "#fff" : "";
      node.title = w.toFixed(3);
    }

    return {
      draw(kind, layer, heads, threshold) {
        if (tokensOf !== kind) {
          fillColumn(queryColumn, kind.queries, "query");
          fillColumn(keyColumn, kind.keys, "key");
          tokensOf = kind;
          focus = null;
        }
        shown = { kind, layer, heads, threshold };
        render();
      },
    };
  }

  function escapeText(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  // ----- matrix view: one head as a heatmap, the value on hover -------------------------------
  /** A heatmap of one head inside `container`, with its tokens along both sides. */
  function Matrix(container) {
    const root = element("div", { class: "matrix" });
    container.replaceChildren(root);
    return {
      draw(kind, layer, head) {
        const T = kind.queries.length, S = kind.keys.length;
        const cell = Math.max(12, Math.min(36, Math.floor(720 / Math.max(T, S))));
        const columns = element("div", { class: "column-labels" });
        const rows = element("div", { class: "row-labels" });
        kind.keys.forEach((token) => {
          const label = element("span", {}, token);
          label.style.width = cell + "px";
          columns.append(label);
        });
        kind.queries.forEach((token) => {
          const label = element("span", {}, token);
          label.style.height = label.style.lineHeight = cell + "px";
          rows.append(label);
        });
        const canvas = element("canvas", { width: S * cell, height: T * cell, "data-head": head });
        const context = canvas.getContext("2d");
        context.font = `${Math.min(11, cell / 3)}px sans-serif`;
        context.textAlign = "center";
        context.textBaseline = "middle";
        for (let i = 0; i < T; i++) {
          for (let j = 0; j < S; j++) {
            const w = layer.weight(head, i, j);
            const [r, g, b] = shade(w);
            context.fillStyle = `rgb(${r}, ${g}, ${b})`;
            context.fillRect(j * cell, i * cell, cell, cell);
            if (cell >= 30 && w > 0) {  // room for the number
              context.fillStyle = w > 0.55 ? "#fff" : "#222";
              context.fillText(w.toFixed(2).replace(/^0/, ""), (j + 0.5) * cell, (i + 0.5) * cell);
            }
          }
        }
        let lit = [];
        canvas.addEventListener("mousemove", (event) => {
          const box = canvas.getBoundingClientRect();
          const j = Math.floor((event.clientX - box.left) / cell), i = Math.floor((event.clientY - box.top) / cell);
          if (i < 0 || i >= T || j < 0 || j >= S) return;
          lit.forEach((label) => label.classList.remove("lit"));
          lit = [rows.children[i], columns.children[j]];
          lit.forEach((label) => label.classList.add("lit"));
          showTooltip(`${kind.queries[i]} (${i}) → ${kind.keys[j]} (${j})\nweight ${layer.weight(head, i, j).toFixed(4)}`, event);
        });
        canvas.addEventListener("mouseleave", () => { lit.forEach((label) => label.classList.remove("lit")); hideTooltip(); });
        root.replaceChildren(element("div"), columns, rows, canvas);
      },
    };
  }

  // ----- model view: a thumbnail per layer and head --------------------------------------------
  function drawThumbnail(canvas, kind, layer, head) {
    const T = kind.queries.length, S = kind.keys.length;
    canvas.width = S;
    canvas.height = T;
    const scale = THUMBNAIL / Math.max(T, S);
    canvas.style.width = Math.round(S * scale) + "px";
    canvas.style.height = Math.round(T * scale) + "px";
    const context = canvas.getContext("2d");
    const image = context.createImageData(S, T);
    for (let i = 0; i < T; i++) {
      for (let j = 0; j < S; j++) {
        const [r, g, b] = shade(layer.weight(head, i, j));
        const k = 4 * (i * S + j);
        image.data[k] = r; image.data[k + 1] = g; image.data[k + 2] = b; image.data[k + 3] = 255;
      }
    }
    context.putImageData(image, 0, 0);
  }

  function drawModelView() {
    const kind = kinds[state.kind];
    const grid = byId("grid");
    const heads = kind.layers[0].heads;
    grid.style.gridTemplateColumns = `max-content repeat(${heads}, max-content)`;
    const cells = [element("div")];
    for (let h = 0; h < heads; h++) cells.push(element("div", { class: "label" }, `head ${h}`));
    kind.layers.forEach((layer, l) => {
      const label = element("div", { class: "label", title: layer.name }, `layer ${l}`);
      cells.push(label);
      for (let h = 0; h < heads; h++) {
        const panel = element("figure", { class: "head-panel", "data-layer": l, "data-head": h, tabindex: 0,
                                          title: `layer ${l}, head ${h} (${layer.name})` });
        const canvas = element("canvas");
        drawThumbnail(canvas, kind, layer, h);
        panel.append(canvas);
        panel.addEventListener("click", () => openDetail(l, h));
        panel.addEventListener("keydown", (event) => { if (event.key === "Enter") openDetail(l, h); });
        cells.push(panel);
      }
    });
    grid.replaceChildren(...cells);
  }

  // ----- one head opened large -------------------------------------------------------------------
  const detailDiagram = HeadDiagram(byId("detail-diagram"));
  const detailMatrix = Matrix(byId("detail-matrix"));

  function openDetail(l, h) {
    const kind = kinds[state.kind], layer = kind.layers[l];
    byId("detail-title").textContent = `${kind.label}: layer ${l}, head ${h} (${layer.name})`;
    const only = Array(layer.heads).fill(false);
    only[h] = true;
    detailDiagram.draw(kind, layer, only, state.threshold);
    detailMatrix.draw(kind, layer, h);
    byId("detail").hidden = false;
    byId("detail").dataset.layer = l;
    byId("detail").dataset.head = h;
    byId("detail-close").focus();
  }

  function closeDetail() { byId("detail").hidden = true; hideTooltip(); }
  byId("detail-close").addEventListener("click", closeDetail);
  byId("detail").addEventListener("click", (event) => { if (event.target === byId("detail")) closeDetail(); });
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") closeDetail(); });

  // ----- controls ---------------------------------------------------------------------------------
  const headDiagram = HeadDiagram(byId("head-diagram"));
  const matrix = Matrix(byId("matrix-panel"));

  function options(select, labels, selected) {
    select.replaceChildren(...labels.map((label, k) => element("option", { value: k }, label)));
    select.value = String(selected);
  }

  function buildControls() {
    const kind = kinds[state.kind];
    options(byId("kind"), kinds.map((k) => k.label), state.kind);
    byId("kind-control").hidden = kinds.length < 2;
    options(byId("layer"), kind.layers.map((layer, l) => `${l}: ${layer.name}`), state.layer);
    options(byId("matrix-head"), state.heads.map((_, h) => `${h}`), state.matrixHead);
    byId("heads").replaceChildren(...state.heads.map((on, h) => {
      const chip = element("button", { type: "button", class: "chip", "data-head": h, "aria-pressed": on }, String(h));
      chip.style.setProperty("--colour", headColour(h));
      chip.addEventListener("click", () => { state.heads[h] = !state.heads[h]; update(); });
      return chip;
    }));
    byId("threshold").value = state.threshold;
  }

  function update() {
    const kind = kinds[state.kind], layer = kind.layers[state.layer];
    for (const tab of document.querySelectorAll(".tabs button")) tab.setAttribute("aria-selected", tab.dataset.view === state.view);
    for (const view of ["head", "model", "matrix"]) byId(`${view}-view`).hidden = view !== state.view;
    byId("layer-control").hidden = state.view === "model";
    byId("heads-control").hidden = byId("threshold-control").hidden = state.view !== "head";
    byId("matrix-head-control").hidden = state.view !== "matrix";
    for (const chip of byId("heads").children) chip.setAttribute("aria-pressed", state.heads[+chip.dataset.head]);
    byId("threshold-value").textContent = state.threshold.toFixed(2);
    if (state.view === "head") headDiagram.draw(kind, layer, state.heads, state.threshold);
    if (state.view === "model") drawModelView();
    if (state.view === "matrix") matrix.draw(kind, layer, state.matrixHead);
    writeAddress();
  }

  for (const tab of document.querySelectorAll(".tabs button")) {
    tab.addEventListener("click", () => { state.view = tab.dataset.view; update(); });
  }
  byId("kind").addEventListener("change", (event) => {
    state.kind = +event.target.value;
    state.layer = 0;
    resetHeads();
    state.matrixHead = 0;
    buildControls();
    update();
  });
  byId("layer").addEventListener("change", (event) => { state.layer = +event.target.value; update(); });
  byId("matrix-head").addEventListener("change", (event) => { state.matrixHead = +event.target.value; update(); });
  byId("all-heads").addEventListener("click", () => { state.heads.fill(true); update(); });
  byId("no-heads").addEventListener("click", () => { state.heads.fill(false); update(); });
  byId("threshold").addEventListener("input", (event) => { state.threshold = +event.target.value; update(); });

  byId("title").textContent = data.title;
  const asked = readAddress();
  buildControls();
  update();
  if (asked.open) {  // a head opened large
    const [l, h] = asked.open.split(",").map(Number);
    if (l >= 0 && l < kinds[state.kind].layers.length && h >= 0 && h < state.heads.length) openDetail(l, h);
  }
  if (asked.focus && state.view === "head") {  // a token as if hovered
    const [side, index] = asked.focus.split(",");
    const token = document.querySelector(`#head-view .token.${side === "key" ? "key" : "query"}[data-index="${+index}"]`);
    if (token) token.dispatchEvent(new Event("mouseenter"));
  }
  document.body.dataset.ready = "true";  // for tests and screenshots: everything is drawn
})();

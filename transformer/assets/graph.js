// The graph explorer. It reads the pages embedded in the page (#explorer-data): each one a
// Graphviz SVG of a model (the first) or of one module, with a tooltip per node, and for each
// collapsed module's box the name of the page that opens it. It shows one page at a time, with
// pan (drag) and zoom (wheel or buttons), and a breadcrumb per page opened on the way.
//
// Data: { title, pages: [{ name, title, svg, tooltips: { nodeId: [line] }, opens: { nodeId: name } }] }
// Graphviz writes each node as <g class="node"><title>nodeId</title>...</g>, which is how a
// drawn node is matched with its tooltip. The address can open a page: #page=blocks.0
"use strict";

(function () {
  const ZOOM_STEP = 1.25;
  const data = JSON.parse(document.getElementById("explorer-data").textContent);
  const byName = new Map(data.pages.map((page) => [page.name, page]));
  const viewport = document.getElementById("viewport");
  const tooltip = document.getElementById("tooltip");
  const trail = [];                        // the pages opened, the whole model first
  const view = { x: 0, y: 0, scale: 1 };   // the SVG's translation (pixels) and scale
  let svg = null;

  // ----- showing a page ------------------------------------------------------------------------
  function show(name) {
    const page = byName.get(name);
    viewport.innerHTML = page.svg;
    svg = viewport.querySelector("svg");
    // Graphviz sets the size in points; the explorer sizes the SVG itself, in pixels.
    const box = svg.viewBox.baseVal;
    svg.setAttribute("width", box.width);
    svg.setAttribute("height", box.height);
    for (const node of svg.querySelectorAll("g.node")) {
      const id = node.querySelector("title").textContent;
      node.dataset.id = id;
      // The explorer's own tooltip replaces the browser's (titles and the links Graphviz adds).
      node.querySelector("title").remove();
      for (const link of node.querySelectorAll("a")) link.removeAttribute("xlink:title");
      for (const link of node.querySelectorAll("a")) link.removeAttributeNS("http://www.w3.org/1999/xlink", "title");
      node.addEventListener("mouseenter", (event) => showTooltip(page.tooltips[id] || [id], event));
      node.addEventListener("mousemove", (event) => placeTooltip(event));
      node.addEventListener("mouseleave", hideTooltip);
      if (page.opens[id] !== undefined) {
        node.classList.add("openable");
        node.addEventListener("click", () => open(page.opens[id]));
      }
    }
    for (const title of svg.querySelectorAll("title")) title.remove();  // edges, clusters, the graph
    drawTrail();
    fit(true);
    try { history.replaceState(null, "", "#page=" + encodeURIComponent(name)); } catch (error) { /* in an iframe */ }
  }

  function open(name) {
    hideTooltip();
    trail.push(name);
    show(name);
  }

  function back(depth) {
    trail.length = depth + 1;
    show(trail[depth]);
  }

  function drawTrail() {
    const crumbs = document.getElementById("breadcrumbs");
    crumbs.replaceChildren(...trail.map((name, k) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = byName.get(name).title;
      button.disabled = k === trail.length - 1;
      button.addEventListener("click", () => back(k));
      return button;
    }));
  }

  // ----- tooltips -------------------------------------------------------------------------------
  function showTooltip(lines, event) {
    tooltip.textContent = lines.join("\n");
    tooltip.hidden = false;
    placeTooltip(event);
  }

  function placeTooltip(event) {
    tooltip.style.left = Math.max(4, Math.min(event.clientX + 14, innerWidth - tooltip.offsetWidth - 4)) + "px";
    tooltip.style.top = Math.max(4, Math.min(event.clientY + 14, innerHeight - tooltip.offsetHeight - 4)) + "px";
  }

  function hideTooltip() { tooltip.hidden = true; }

  // ----- pan and zoom ---------------------------------------------------------------------------
  function apply() {
    svg.style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.scale})`;
    svg.dataset.scale = view.scale;
  }

  /** Scale by `factor` keeping the point (px, py) of the viewport where it is. */
  function zoom(factor, px = viewport.clientWidth / 2, py = viewport.clientHeight / 2) {
    const scale = Math.max(0.05, Math.min(20, view.scale * factor));
    view.x = px - (px - view.x) * (scale / view.scale);
    view.y = py - (py - view.y) * (scale / view.scale);
    view.scale = scale;
    apply();
  }

  /** The whole graph in the window (never enlarged past its natural size), centred; with
   *  `widthOnly`, as wide as the window allows and from its top (a tall graph stays readable). */
  function fit(widthOnly = false) {
    const box = svg.viewBox.baseVal;
    const across = (viewport.clientWidth - 20) / box.width, down = (viewport.clientHeight - 20) / box.height;
    const scale = Math.min(1, across, widthOnly ? across : down);
    view.scale = scale > 0 ? scale : 1;
    view.x = (viewport.clientWidth - box.width * view.scale) / 2;
    view.y = Math.max(10, (viewport.clientHeight - box.height * view.scale) / 2);
    if (widthOnly) view.y = 10;
    apply();
  }

  viewport.addEventListener("wheel", (event) => {
    event.preventDefault();
    const bounds = viewport.getBoundingClientRect();
    zoom(event.deltaY < 0 ? ZOOM_STEP : 1 / ZOOM_STEP, event.clientX - bounds.left, event.clientY - bounds.top);
  }, { passive: false });

  let drag = null;  // where the pointer went down, and the translation then
  viewport.addEventListener("mousedown", (event) => {
    drag = { x: event.clientX, y: event.clientY, viewX: view.x, viewY: view.y, moved: false };
    viewport.classList.add("dragging");
  });
  addEventListener("mousemove", (event) => {
    if (!drag) return;
    view.x = drag.viewX + event.clientX - drag.x;
    view.y = drag.viewY + event.clientY - drag.y;
    drag.moved = drag.moved || Math.abs(event.clientX - drag.x) + Math.abs(event.clientY - drag.y) > 3;
    apply();
  });
  addEventListener("mouseup", () => { drag = null; viewport.classList.remove("dragging"); });
  // A drag that ends on a module must not open it.
  viewport.addEventListener("click", (event) => { if (drag && drag.moved) event.stopPropagation(); }, true);

  document.getElementById("zoom-in").addEventListener("click", () => zoom(ZOOM_STEP));
  document.getElementById("zoom-out").addEventListener("click", () => zoom(1 / ZOOM_STEP));
  document.getElementById("fit").addEventListener("click", () => fit());
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && trail.length > 1) back(trail.length - 2);
    if (event.key === "+" || event.key === "=") zoom(ZOOM_STEP);
    if (event.key === "-") zoom(1 / ZOOM_STEP);
  });

  // ----- start: the whole model, or the page the address names, with the path to it ------------
  document.getElementById("title").textContent = data.title;
  trail.push(data.pages[0].name);
  const wanted = decodeURIComponent(new URLSearchParams(location.hash.slice(1)).get("page") || "");
  if (wanted && byName.has(wanted) && wanted !== data.pages[0].name) {
    // every module on the way, outermost first: "blocks", "blocks.0", ...
    const parts = wanted.split(".");
    for (let k = 1; k <= parts.length; k++) {
      const name = parts.slice(0, k).join(".");
      if (byName.has(name)) trail.push(name);
    }
  }
  show(trail[trail.length - 1]);
  document.body.dataset.ready = "true";  // for tests and screenshots: everything is drawn
})();

// Bar charts as hand-written SVG, plus the table that carries the same figures.
//
// Why no chart library: it would be the SPA's heaviest file by far (there is no npm and no
// build step to trim it), and most draw on <canvas>, which screen readers cannot read. An SVG
// here is role="img" with an aria-label that sums it up, and every figure it draws is also in
// a real <table> (dataTable) next to it. The SVG scales with its viewBox: one drawing from a
// 390 px phone to a wide screen, no resize handling.

import { h } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined) continue;
    el.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function chart(width, height, label, className) {
  return s("svg", {
    class: `chart ${className || ""}`.trim(),
    viewBox: `0 0 ${width} ${height}`,
    preserveAspectRatio: "xMinYMin meet",
    role: "img",
    "aria-label": label,
    focusable: "false",
  });
}

// Horizontal bars, one row each: rows [{label, value, text, cls}]. `text` is what is written
// after the bar (default: the value).
export function barChart({ label, rows, className }) {
  const width = 360;
  const rowHeight = 28;
  const labelWidth = 140;
  const textRoom = 44;
  const height = rows.length * rowHeight + 6;
  const max = Math.max(1, ...rows.map((r) => r.value || 0));
  const svg = chart(width, height, label, className);
  rows.forEach((row, i) => {
    const y = i * rowHeight + 4;
    const length = ((row.value || 0) / max) * (width - labelWidth - textRoom);
    svg.append(
      s("text", { x: labelWidth - 8, y: y + rowHeight / 2, class: "chart-label", "text-anchor": "end", "dominant-baseline": "middle" }, row.label),
      s("rect", { x: labelWidth, y, width: Math.max(length, 1), height: rowHeight - 8, rx: 2, class: `bar ${row.cls || ""}`.trim() }),
      s("text", { x: labelWidth + Math.max(length, 1) + 6, y: y + rowHeight / 2 - 1, class: "chart-value", "dominant-baseline": "middle" }, row.text ?? String(row.value)),
    );
  });
  return svg;
}

// Columns over time, one per point: points [{label, values: {key: n}}], series [{key, label,
// cls}] drawn from the first (tallest, e.g. received) to the last (e.g. won) over each other,
// since each is a part of the one before. One <rect class="bar <series cls>"> per point and
// series.
export function columnChart({ label, points, series, className }) {
  const width = 360;
  const height = 200;
  const top = 18;
  const bottom = 34;
  const left = 8;
  const plot = height - top - bottom;
  const max = Math.max(1, ...points.map((p) => Math.max(...series.map((x) => p.values[x.key] || 0))));
  const slot = (width - left * 2) / Math.max(points.length, 1);
  const barWidth = Math.min(48, slot * 0.7);
  // Label every month while they fit, else every few (the table lists them all).
  const every = Math.max(1, Math.ceil(points.length / 6));
  const svg = chart(width, height, label, className);
  svg.append(s("line", { x1: left, x2: width - left, y1: top + plot + 0.5, y2: top + plot + 0.5, class: "axis" }));
  points.forEach((point, i) => {
    const x = left + i * slot + (slot - barWidth) / 2;
    for (const one of series) {
      const value = point.values[one.key] || 0;
      const barHeight = (value / max) * plot;
      svg.append(s("rect", { x, y: top + plot - barHeight, width: barWidth, height: barHeight, class: `bar ${one.cls}` }));
    }
    const first = point.values[series[0].key] || 0;
    svg.append(
      s("text", { x: x + barWidth / 2, y: top + plot - (first / max) * plot - 4, class: "chart-value", "text-anchor": "middle" }, String(first)),
    );
    if (i % every === 0) {
      svg.append(s("text", { x: x + barWidth / 2, y: top + plot + 16, class: "chart-label", "text-anchor": "middle" }, point.label));
    }
  });
  return svg;
}

// The legend for columnChart's series: swatches with words (not colour alone).
export function legend(series) {
  return h(
    "ul",
    { class: "chart-legend" },
    series.map((one) => h("li", {}, h("span", { class: `swatch ${one.cls}`, "aria-hidden": "true" }), one.label)),
  );
}

// A table of the same figures: columns [{label, numeric}], rows [[cell, ...]] (the first cell
// of a row is its header). Wide tables scroll inside their own focusable region on a phone,
// never the page.
export function dataTable({ caption, columns, rows }) {
  const table = h(
    "table",
    { class: "data-table" },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.numeric ? "num" : null }, c.label)))),
    h(
      "tbody",
      {},
      rows.map((cells) =>
        h(
          "tr",
          {},
          cells.map((cell, i) =>
            i === 0
              ? h("th", { scope: "row" }, cell)
              : h("td", { class: columns[i] && columns[i].numeric ? "num" : null }, cell),
          ),
        ),
      ),
    ),
  );
  return h("div", { class: "table-scroll", role: "region", "aria-label": caption, tabindex: "0" }, table);
}

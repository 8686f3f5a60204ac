// Line charts drawn as SVG from the overview's `series` (one sample every 5 s). No library:
// a few lines, their points, a value grid and the times at both ends.

import { h, svg } from "./dom.js";
import { fmtNumber, fmtTime, t } from "./i18n.js";

const W = 640;
const H = 220;
const PAD = { left: 44, right: 14, top: 14, bottom: 30 };

function niceMax(value) {
  if (value <= 4) return 4;
  const step = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= value) return m * step;
  return value;
}

/** lines: [{key, label}] — keys of the samples; the CSS colours them by position. */
export function lineChart(testid, title, series, lines) {
  const figure = h("figure", { class: "chart", testid });
  figure.append(h("figcaption", {}, title));
  if (series.length === 0) {
    figure.append(h("p", { class: "muted" }, t("dash.chart.empty")));
    return figure;
  }
  const max = niceMax(Math.max(...series.flatMap((s) => lines.map((l) => Number(s[l.key]) || 0))));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const first = Date.parse(series[0].at);
  const span = Math.max(Date.parse(series[series.length - 1].at) - first, 1);
  const x = (s) => PAD.left + (series.length === 1 ? plotW : ((Date.parse(s.at) - first) / span) * plotW);
  const y = (v) => PAD.top + plotH - (v / max) * plotH;

  const chart = svg("svg", {
    viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title, class: "chart-svg",
    "data-points": String(series.length),
  });
  for (let i = 0; i <= 4; i += 1) {
    const value = (max / 4) * i;
    chart.append(
      svg("line", { class: "grid", x1: PAD.left, x2: W - PAD.right, y1: y(value), y2: y(value) }),
      svg("text", { class: "axis", x: PAD.left - 6, y: y(value) + 4, "text-anchor": "end" }, fmtNumber(value)),
    );
  }
  chart.append(
    svg("text", { class: "axis", x: PAD.left, y: H - 8, "text-anchor": "start" }, fmtTime(series[0].at)),
    svg("text", { class: "axis", x: W - PAD.right, y: H - 8, "text-anchor": "end" }, fmtTime(series[series.length - 1].at)),
  );
  lines.forEach((line, index) => {
    const points = series.map((s) => `${x(s).toFixed(1)},${y(Number(s[line.key]) || 0).toFixed(1)}`);
    chart.append(svg("polyline", { class: `line series-${index}`, points: points.join(" ") }));
    // Dots only where they can be told apart; the last one always (the value now).
    const every = Math.max(1, Math.ceil(series.length / 60));
    series.forEach((s, i) => {
      if (i % every !== 0 && i !== series.length - 1) return;
      chart.append(svg("circle", { class: `pt series-${index}`, cx: x(s).toFixed(1), cy: y(Number(s[line.key]) || 0).toFixed(1), r: 2.5 },
        svg("title", {}, `${line.label}: ${fmtNumber(Number(s[line.key]) || 0)} · ${fmtTime(s.at)}`)));
    });
  });
  figure.append(chart);
  const last = series[series.length - 1];
  figure.append(h("ul", { class: "legend" }, lines.map((line, index) =>
    h("li", {}, h("span", { class: `swatch series-${index}`, "aria-hidden": "true" }),
      `${line.label}: `, h("strong", {}, fmtNumber(Number(last[line.key]) || 0))))));
  return figure;
}

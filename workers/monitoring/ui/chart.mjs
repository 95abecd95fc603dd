// Line charts drawn as SVG: nice y ticks, time x ticks, a gap wherever a value is null, a
// hover read-out, and a legend with the latest values. No library, no inline style attributes
// (the page's CSP forbids them): colours come from classes, positions from SVG attributes.
import { clock, format } from './format.mjs';

const NS = 'http://www.w3.org/2000/svg';
const HEIGHT = 170;
const PAD = { top: 10, right: 10, bottom: 22 };

/** Colours by meaning, so 5xx is red wherever it appears; other lines take the palette in order. */
const NAMED = { all: 0, '2xx': 2, '3xx': 5, '4xx': 3, '5xx': 1, other: 7, none: 7, p50: 0, p95: 3, p99: 1, in: 0, out: 2, user: 0, system: 3, mean: 0, max: 1, rss: 0, heap_total: 5, heap: 2, external: 3, array_buffers: 4 };

/** The palette order for lines without a meaning: red comes last, so it reads as trouble only where it is. */
const GENERIC = [0, 4, 5, 2, 6, 3, 7, 1];

/**
 * The colour class of line `i` labelled `label`.
 * @param {string} label
 * @param {number} i
 */
export function colourClass(label, i) {
  return `s${Object.hasOwn(NAMED, label) ? NAMED[label] : GENERIC[i % GENERIC.length]}`;
}

function svg(name, attrs = {}) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

function html(name, className, text) {
  const e = document.createElement(name);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/**
 * A step of 1, 2 or 5 times a power of ten giving about `count` intervals over `span`; for
 * byte units, the same in the binary multiple the labels use (so ticks read 16 MiB, not 15.3).
 */
function niceStep(span, count, unit) {
  if (unit === 'bytes' || unit === 'bytesPerSecond') {
    const scale = 1024 ** Math.max(0, Math.floor(Math.log(span / count) / Math.log(1024)));
    return niceStep(span / scale, count, '') * scale;
  }
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const f = raw / power;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * power;
}

const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200].map((s) => s * 1000);

/**
 * A chart in `container`: call update() with each new payload.
 * @param {HTMLElement} container
 */
export function createChart(container) {
  const figure = html('div', 'figure');
  const root = svg('svg', { class: 'plot', role: 'img', height: HEIGHT });
  const tip = html('div', 'tip');
  tip.hidden = true;
  const legend = html('ul', 'legend');
  const note = html('p', 'note');
  figure.append(root, tip);
  container.append(figure, legend, note);
  let state;

  function hide() {
    tip.hidden = true;
    const cursor = root.querySelector('.cursor');
    if (cursor) cursor.setAttribute('visibility', 'hidden');
  }

  root.addEventListener('pointerleave', hide);
  root.addEventListener('pointermove', (event) => {
    if (!state || state.empty) return;
    const box = root.getBoundingClientRect();
    const x = event.clientX - box.left;
    const { left, plotW, timeline, chart } = state;
    const k = Math.round(((x - left) / plotW) * (timeline.points - 1));
    if (k < 0 || k >= timeline.points) return hide();
    const cx = left + (k / Math.max(1, timeline.points - 1)) * plotW;
    const cursor = root.querySelector('.cursor');
    cursor.setAttribute('x1', cx);
    cursor.setAttribute('x2', cx);
    cursor.setAttribute('visibility', 'visible');
    tip.replaceChildren(html('div', 'tip-time', clock(timeline.start + k * timeline.stepMs, timeline.stepMs < 60_000)));
    chart.lines.forEach((line, i) => {
      const row = html('div', 'tip-row');
      row.append(html('i', `sw ${colourClass(line.label, i)}`), html('span', '', line.label + ' '), html('b', '', format(line.values[k], chart.unit)));
      tip.append(row);
    });
    tip.hidden = false;
    // CSSOM, not a style attribute: allowed under style-src 'self'.
    const onRight = cx > box.width / 2;
    tip.style.left = onRight ? '' : `${cx + 12}px`;
    tip.style.right = onRight ? `${box.width - cx + 12}px` : '';
  });

  return {
    /** The element whose width the chart takes: measure all charts first, then update them, so the browser lays out once. */
    figure,
    /** A line under the legend, for what the chart leaves out. */
    note,
    /**
     * @param {{unit: string, lines: {label: string, values: (number|null)[]}[]}} chart
     * @param {{start: number, stepMs: number, points: number}} timeline
     * @param {number} measuredWidth figure.clientWidth, read before any chart was updated
     */
    update(chart, timeline, measuredWidth) {
      const width = Math.max(200, Math.round(measuredWidth || 320));
      root.setAttribute('viewBox', `0 0 ${width} ${HEIGHT}`);
      root.setAttribute('width', width);
      let min = Infinity;
      let max = -Infinity;
      for (const line of chart.lines) {
        for (const v of line.values) {
          if (v === null) continue;
          if (v < min) min = v;
          if (v > max) max = v;
        }
      }
      const empty = min === Infinity;
      const parts = [];
      const plotH = HEIGHT - PAD.top - PAD.bottom;
      let lo = Math.min(0, empty ? 0 : min);
      let hi = empty ? 1 : max;
      if (hi <= lo) hi = lo + (chart.unit === 'ratio' ? 0.01 : 1);
      // Bytes come whole: an axis of 0, 0.5 and 1 B would read 0, 1, 1.
      if ((chart.unit === 'bytes' || chart.unit === 'bytesPerSecond') && hi - lo < 4) hi = lo + 4;
      const yStep = niceStep(hi - lo, 3, chart.unit);
      hi = Math.ceil(hi / yStep - 1e-9) * yStep;
      lo = Math.floor(lo / yStep + 1e-9) * yStep;
      const ticks = [];
      for (let v = lo; v <= hi + yStep / 2; v += yStep) ticks.push(Number(v.toPrecision(12)));
      const labels = ticks.map((v) => format(v, chart.unit));
      const left = Math.max(...labels.map((l) => l.length)) * 6.4 + 12;
      const plotW = width - left - PAD.right;
      const y = (v) => PAD.top + plotH - ((v - lo) / (hi - lo)) * plotH;
      const x = (k) => left + (k / Math.max(1, timeline.points - 1)) * plotW;

      ticks.forEach((v, i) => {
        const yy = y(v).toFixed(1);
        parts.push(svg('line', { class: 'grid', x1: left, x2: width - PAD.right, y1: yy, y2: yy }));
        parts.push(Object.assign(svg('text', { class: 'axis', x: left - 6, y: yy, 'text-anchor': 'end', 'dominant-baseline': 'middle' }), { textContent: labels[i] }));
      });

      const span = (timeline.points - 1) * timeline.stepMs;
      const timeStep = TIME_STEPS.find((s) => (span / s) * 70 <= plotW) ?? TIME_STEPS[TIME_STEPS.length - 1];
      const offset = new Date(timeline.start).getTimezoneOffset() * 60_000;
      const end = timeline.start + span;
      for (let t = Math.ceil((timeline.start - offset) / timeStep) * timeStep + offset; t <= end; t += timeStep) {
        const xx = x((t - timeline.start) / timeline.stepMs).toFixed(1);
        parts.push(svg('line', { class: 'tick', x1: xx, x2: xx, y1: PAD.top + plotH, y2: PAD.top + plotH + 4 }));
        parts.push(Object.assign(svg('text', { class: 'axis', x: xx, y: HEIGHT - 4, 'text-anchor': 'middle' }), { textContent: clock(t, timeStep < 60_000) }));
      }

      chart.lines.forEach((line, i) => {
        let d = '';
        let open = false;
        line.values.forEach((v, k) => {
          if (v === null) {
            open = false;
            return;
          }
          const cmd = `${x(k).toFixed(1)} ${y(v).toFixed(1)}`;
          // A lone point between gaps is a zero-length segment: round caps draw it as a dot.
          const next = line.values[k + 1];
          d += open ? `L${cmd}` : `M${cmd}${next === null || next === undefined ? 'h0' : ''}`;
          open = true;
        });
        if (d !== '') parts.push(svg('path', { class: `line ${colourClass(line.label, i)}`, d, 'data-label': line.label }));
      });
      if (empty) parts.push(Object.assign(svg('text', { class: 'empty', x: left + plotW / 2, y: PAD.top + plotH / 2, 'text-anchor': 'middle' }), { textContent: 'no data in this range' }));
      parts.push(svg('line', { class: 'cursor', x1: 0, x2: 0, y1: PAD.top, y2: PAD.top + plotH, visibility: 'hidden' }));
      root.replaceChildren(...parts);
      root.setAttribute('aria-label', chart.lines.map((l) => `${l.label} ${format(latest(l.values), chart.unit)}`).join(', ') || 'no data');

      legend.replaceChildren(
        ...chart.lines.map((line, i) => {
          const item = html('li');
          item.append(html('i', `sw ${colourClass(line.label, i)}`), html('span', 'name', line.label), html('b', '', format(latest(line.values), chart.unit)));
          return item;
        }),
      );
      state = { left, plotW, timeline, chart, empty };
      if (!tip.hidden) hide();
    },
  };
}

/** The last non-null value of a line. */
export function latest(values) {
  for (let k = values.length - 1; k >= 0; k--) if (values[k] !== null) return values[k];
  return null;
}

/**
 * A small sparkline SVG for a table cell.
 * @param {(number|null)[]} values
 */
export function sparkline(values) {
  const w = 90;
  const h = 22;
  const root = svg('svg', { class: 'spark', viewBox: `0 0 ${w} ${h}`, width: w, height: h, 'aria-hidden': 'true' });
  const max = Math.max(0, ...values.filter((v) => v !== null));
  let d = '';
  let open = false;
  values.forEach((v, k) => {
    if (v === null) {
      open = false;
      return;
    }
    const cmd = `${((k / Math.max(1, values.length - 1)) * (w - 2) + 1).toFixed(1)} ${(h - 2 - (max > 0 ? v / max : 0) * (h - 4)).toFixed(1)}`;
    const next = values[k + 1];
    d += open ? `L${cmd}` : `M${cmd}${next === null || next === undefined ? 'h0' : ''}`;
    open = true;
  });
  if (d !== '') root.append(svg('path', { class: 'line s0', d }));
  return root;
}

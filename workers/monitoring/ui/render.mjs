// Sections, tiles, charts and tables from the dashboard JSON. Elements are made once per id and
// updated in place, so a refresh redraws values without rebuilding the page.
import { colourClass, createChart, sparkline } from './chart.mjs';
import { ago, format } from './format.mjs';

const charts = new Map();

function html(name, className, text) {
  const e = document.createElement(name);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** The child of `parent` with `data-id` = id, made by `make` (and appended) the first time. */
function ensure(parent, id, make) {
  for (const child of parent.children) if (child.dataset.id === id) return child;
  const made = make();
  made.dataset.id = id;
  parent.append(made);
  return made;
}

function renderTiles(container, tiles) {
  for (const t of tiles) {
    const tile = ensure(container, t.id, () => {
      const e = html('div', 'tile');
      e.append(html('div', 'tile-value'), html('div', 'tile-label', t.label));
      return e;
    });
    tile.dataset.value = t.value === null ? '' : String(t.value);
    tile.classList.toggle('gap', t.value === null);
    tile.firstChild.textContent = format(t.value, t.unit);
  }
}

function renderCell(td, value, unit) {
  td.replaceChildren();
  td.className = unit === 'text' ? 'text' : unit === 'spark' ? 'spark-cell' : 'num';
  if (unit === 'text') td.textContent = value;
  else if (unit === 'spark') td.append(sparkline(value));
  else if (unit.startsWith('list:')) {
    const inner = unit.slice(5);
    td.className = 'list';
    td.textContent = value.length === 0 ? (inner === 'count' ? '0' : '\u2014') : value.map(([k, v]) => `${k} ${format(v, inner)}`).join(' \u00b7 ');
  } else {
    td.textContent = format(value, unit);
    if (unit === 'up') td.className = value > 0 ? 'up' : value === null ? 'num' : 'down';
    if (unit === 'ratio' && value > 0.05) td.classList.add('bad');
  }
}

function renderTable(container, table) {
  const card = ensure(container, table.id, () => {
    const e = html('div', 'card table-card');
    const scroller = html('div', 'scroller');
    scroller.append(html('table'));
    e.append(html('h3', '', table.title), scroller, html('p', 'note'));
    return e;
  });
  const t = card.querySelector('table');
  const head = html('thead');
  const hr = html('tr');
  for (const c of table.columns) hr.append(html('th', c.unit === 'text' || c.unit.startsWith('list:') ? 'text' : 'num', c.title));
  head.append(hr);
  const body = html('tbody');
  if (table.rows.length === 0) {
    const tr = html('tr');
    const td = html('td', 'empty', 'nothing in this range');
    td.colSpan = table.columns.length;
    tr.append(td);
    body.append(tr);
  }
  for (const row of table.rows) {
    const tr = html('tr');
    for (const c of table.columns) {
      const td = html('td');
      td.dataset.label = c.title;
      renderCell(td, row[c.key], c.unit);
      tr.append(td);
    }
    body.append(tr);
  }
  t.replaceChildren(head, body);
  card.querySelector('.note').textContent = table.note ?? '';
}

/** The chart object of `chart`, its card made the first time. */
function chartFor(container, chart) {
  const card = ensure(container, chart.id, () => {
    const e = html('div', 'card chart-card');
    e.append(html('h3', '', chart.title));
    return e;
  });
  let c = charts.get(chart.id);
  if (c === undefined) {
    c = createChart(card);
    charts.set(chart.id, c);
  }
  return c;
}

/**
 * Draws every section of `dashboard` into `main`.
 * @param {HTMLElement} main
 * @param {object} dashboard the /api/dashboard answer
 */
export function renderSections(main, dashboard) {
  const timeline = { start: dashboard.start, stepMs: dashboard.stepMs, points: dashboard.points };
  const pending = [];
  for (const s of dashboard.sections) {
    const section = ensure(main, s.id, () => {
      const e = html('section', 'section');
      e.id = s.id;
      e.append(html('h2', '', s.title), html('div', 'tiles'), html('div', 'tables'), html('div', 'charts'));
      return e;
    });
    renderTiles(section.querySelector('.tiles'), s.tiles);
    const tables = section.querySelector('.tables');
    for (const table of s.tables) renderTable(tables, table);
    const grid = section.querySelector('.charts');
    for (const chart of s.charts) pending.push([chartFor(grid, chart), chart]);
  }
  // Every width read in one layout, then every chart drawn: reading a width after each chart's
  // update would make the browser lay the page out once per chart.
  const widths = pending.map(([c]) => c.figure.clientWidth);
  pending.forEach(([c, chart], i) => {
    c.update(chart, timeline, widths[i]);
    c.note.textContent = chart.note ?? '';
  });
}

/**
 * The strip of node statuses: up/down, last success, last error, requests per second.
 * @param {HTMLElement} strip
 * @param {object[]} nodes
 * @param {number} now
 */
export function renderNodes(strip, nodes, now) {
  if (nodes.length === 0) {
    strip.replaceChildren(html('p', 'node down', 'Nothing to scrape: TQSERVER_METRICS_URL is not set (metrics disabled?) and MONITORING_NODES is empty.'));
    return;
  }
  strip.replaceChildren(
    ...nodes.map((n, i) => {
      const item = html('div', `node ${n.state}`);
      item.dataset.node = n.name;
      const head = html('div', 'node-head');
      head.append(html('i', `dot ${n.state}`), html('b', '', n.name), html('span', 'node-rps', format(n.requestsPerSecond, 'perSecond')));
      item.append(head);
      const detail =
        n.state === 'pending'
          ? 'waiting for the first scrape'
          : n.state === 'up'
            ? `scraped ${ago(n.lastSuccessAt, now)} in ${n.lastDurationMs} ms \u00b7 ${n.series} series`
            : `down: ${n.lastError} \u00b7 last success ${ago(n.lastSuccessAt, now)}`;
      item.append(html('div', 'node-detail', detail));
      if (n.state === 'up' && n.lastError !== null) item.append(html('div', 'node-detail old-error', `last error ${ago(n.lastErrorAt, now)}: ${n.lastError}`));
      item.title = n.url;
      item.classList.add(colourClass(n.name, i));
      return item;
    }),
  );
}

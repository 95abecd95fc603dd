// The page: polls ./api/dashboard (relative to <base href>, so it works under any route prefix),
// draws it, and keeps the range and node in the query string. A failed poll keeps the last
// picture and says so; it never blanks the page.
import { renderNodes, renderSections } from './render.mjs';

const RANGES = ['5m', '15m', '1h', '24h'];
const main = document.getElementById('main');
const strip = document.getElementById('nodes');
const banner = document.getElementById('banner');
const nodeSelect = document.getElementById('node');
const updated = document.getElementById('updated');

// tqserver hands /monitoring and /monitoring/ to the worker alike; show the canonical URL.
if (!location.pathname.endsWith('/')) history.replaceState(null, '', location.pathname + '/' + location.search + location.hash);

const params = new URLSearchParams(location.search);
const state = {
  range: RANGES.includes(params.get('range')) ? params.get('range') : '5m',
  node: params.get('node') || 'all',
};
let timer;
let controller;
let lastSuccess = 0;

function remember() {
  const p = new URLSearchParams();
  if (state.range !== '5m') p.set('range', state.range);
  if (state.node !== 'all') p.set('node', state.node);
  const q = p.toString();
  history.replaceState(null, '', location.pathname + (q ? '?' + q : '') + location.hash);
}

function showRange() {
  for (const b of document.querySelectorAll('[data-range]')) b.setAttribute('aria-pressed', String(b.dataset.range === state.range));
}

function showNodes(nodes) {
  const wanted = ['all', ...nodes.map((n) => n.name)];
  const have = [...nodeSelect.options].map((o) => o.value);
  if (wanted.join('\n') !== have.join('\n')) {
    nodeSelect.replaceChildren(
      ...wanted.map((v) => {
        const o = document.createElement('option');
        o.value = v;
        o.textContent = v === 'all' ? (nodes.length > 1 ? 'All nodes (sum)' : 'All nodes') : v;
        return o;
      }),
    );
  }
  nodeSelect.value = state.node;
  nodeSelect.parentElement.hidden = nodes.length < 2;
}

async function poll() {
  clearTimeout(timer);
  controller?.abort();
  controller = new AbortController();
  let next = 5000;
  try {
    const q = new URLSearchParams({ range: state.range, node: state.node });
    const res = await fetch(`./api/dashboard?${q}`, { signal: controller.signal, cache: 'no-store' });
    if (res.status === 404 && state.node !== 'all') {
      state.node = 'all';
      remember();
      return poll();
    }
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const dashboard = await res.json();
    lastSuccess = Date.now();
    banner.hidden = true;
    showNodes(dashboard.nodes);
    renderNodes(strip, dashboard.nodes, dashboard.now);
    renderSections(main, dashboard);
    document.body.dataset.loaded = 'true';
    updated.textContent = `updated ${new Date(dashboard.now).toLocaleTimeString()}`;
    next = dashboard.refreshMs;
  } catch (err) {
    if (err.name === 'AbortError') return;
    banner.hidden = false;
    banner.textContent = `Cannot reach the monitoring worker (${err.message}); showing what was last received${lastSuccess ? ' at ' + new Date(lastSuccess).toLocaleTimeString() : ''}, retrying.`;
  }
  if (!document.hidden) timer = setTimeout(poll, next);
}

for (const b of document.querySelectorAll('[data-range]')) {
  b.addEventListener('click', () => {
    state.range = b.dataset.range;
    remember();
    showRange();
    poll();
  });
}
nodeSelect.addEventListener('change', () => {
  state.node = nodeSelect.value;
  remember();
  poll();
});
// A hidden tab stops polling; it catches up at once when shown again.
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) poll();
  else clearTimeout(timer);
});
let resizeTimer;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(poll, 150);
});

showRange();
poll();

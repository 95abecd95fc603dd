// Number formatting by unit, for tiles, axes, legends and tables. null (a gap) is an em dash.

const DASH = '\u2014';

/** A number with about 3 significant digits, trailing zeros dropped. */
function short(v) {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 100) return String(Math.round(v));
  if (a >= 10) return String(Math.round(v * 10) / 10);
  if (a >= 1) return String(Math.round(v * 100) / 100);
  return String(Number(v.toPrecision(2)));
}

/** 1.2k, 3.4M: for rates and counts. */
function metric(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return short(v / 1e9) + 'G';
  if (a >= 1e6) return short(v / 1e6) + 'M';
  if (a >= 1e4) return short(v / 1e3) + 'k';
  return short(v);
}

/** Binary multiples: 1.5 KiB, 45 MiB. */
function bytes(v) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let x = v;
  while (Math.abs(x) >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${i === 0 ? Math.round(x) : short(x)} ${units[i]}`;
}

function seconds(v) {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a < 1e-3) return `${short(v * 1e6)} µs`;
  if (a < 1) return `${short(v * 1e3)} ms`;
  return `${short(v)} s`;
}

function duration(v) {
  const s = Math.floor(v);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

function percent(v) {
  const p = v * 100;
  if (p === 0) return '0%';
  if (Math.abs(p) < 0.01) return '<0.01%';
  return `${short(p)}%`;
}

/**
 * Formats `v` as `unit` says: perSecond, ratio, seconds, bytes, bytesPerSecond, count, cores,
 * duration, up.
 * @param {number | null | undefined} v
 * @param {string} unit
 * @returns {string}
 */
export function format(v, unit) {
  if (v === null || v === undefined || !Number.isFinite(v)) return DASH;
  switch (unit) {
    case 'perSecond':
      return `${metric(v)}/s`;
    case 'ratio':
    case 'cores':
      return percent(v);
    case 'seconds':
      return seconds(v);
    case 'bytes':
      return bytes(v);
    case 'bytesPerSecond':
      return `${bytes(v)}/s`;
    case 'duration':
      return duration(v);
    case 'up':
      return v > 0 ? 'up' : 'down';
    default:
      return metric(v);
  }
}

/**
 * A time of day for an axis or tooltip; seconds shown when the step is under a minute.
 * @param {number} t ms
 * @param {boolean} withSeconds
 */
export function clock(t, withSeconds) {
  const d = new Date(t);
  const pad = (n) => String(n).padStart(2, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}${withSeconds ? ':' + pad(d.getSeconds()) : ''}`;
}

/**
 * "3 s ago", "4 min ago".
 * @param {number | null} t ms
 * @param {number} now ms
 */
export function ago(t, now) {
  if (t === null) return 'never';
  const s = Math.max(0, (now - t) / 1000);
  if (s < 1) return 'just now';
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 129600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

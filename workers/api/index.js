// The api worker: items kept in memory (per instance). tqserver strips the /api prefix, so
// this worker sees /items and /items/3.
import { createServer } from 'node:http';

const port = Number(process.env.WORKER_PORT);
const items = new Map([[1, { id: 1, name: 'first item' }]]);
let nextId = 2;

// Not for 204 or 304, which have no body (RFC 9110 sections 15.3.5 and 15.4.5).
function send(res, status, body) {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }).end(text);
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      text += chunk;
      if (text.length > 64 * 1024) reject(new Error('body too large'));
    });
    req.on('end', () => {
      try {
        resolve(text === '' ? {} : JSON.parse(text));
      } catch {
        reject(new Error('invalid JSON'));
      }
    });
  });
}

createServer(async (req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/health') return send(res, 200, { ok: true });
  if (path === '/items' && req.method === 'GET') return send(res, 200, [...items.values()]);
  if (path === '/items' && req.method === 'POST') {
    try {
      const body = await readJson(req);
      if (typeof body.name !== 'string' || body.name === '') return send(res, 400, { error: 'name must be a non-empty string' });
      const item = { id: nextId++, name: body.name };
      items.set(item.id, item);
      return send(res, 201, item);
    } catch (err) {
      return send(res, 400, { error: err.message });
    }
  }
  const m = /^\/items\/(\d+)$/.exec(path);
  if (m) {
    const id = Number(m[1]);
    if (req.method === 'GET') return items.has(id) ? send(res, 200, items.get(id)) : send(res, 404, { error: 'no such item' });
    if (req.method === 'DELETE') return items.delete(id) ? res.writeHead(204).end() : send(res, 404, { error: 'no such item' });
    if (req.method === 'PUT') {
      try {
        const body = await readJson(req);
        if (!items.has(id)) return send(res, 404, { error: 'no such item' });
        const item = { id, name: String(body.name ?? items.get(id).name) };
        items.set(id, item);
        return send(res, 200, item);
      } catch (err) {
        return send(res, 400, { error: err.message });
      }
    }
    return send(res, 405, { error: 'method not allowed' });
  }
  send(res, 404, { error: 'not found', path });
}).listen(port, '127.0.0.1');

process.on('SIGTERM', () => process.exit(0));

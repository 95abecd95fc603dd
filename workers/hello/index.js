// The hello worker: one HTML page at /, and 404 for any other path (its public/ files are served
// by tqserver before a request gets here). The worker contract: listen on 127.0.0.1:$WORKER_PORT
// and answer GET /health with 200.
import { createServer } from 'node:http';

const port = Number(process.env.WORKER_PORT);
const mode = process.env.WORKER_MODE;

const page = (title, body) => `<!doctype html>
<html><head><meta charset="utf-8"><title>${title}</title><link rel="stylesheet" href="/style.css"></head>
<body><main>
${body}
<p>Try <a href="/api/items">/api/items</a> and <a href="/metrics">/metrics</a>.</p>
</main>${mode === 'dev' ? '<script src="/dev-reload.js"></script>' : ''}</body></html>
`;

const escape = (text) => text.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/health') {
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
    return;
  }
  if (path === '/') {
    const hello = `<h1>Hello from tqserver</h1>
<p>This page comes from the <code>hello</code> worker (pid ${process.pid}, port ${port}).</p>`;
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(page('tqserver', hello));
    return;
  }
  const missing = `<h1>Not found</h1>
<p>The <code>hello</code> worker has no page at <code>${escape(path)}</code>.</p>`;
  res.writeHead(404, { 'Content-Type': 'text/html; charset=utf-8' }).end(page('Not found', missing));
}).listen(port, '127.0.0.1');

process.on('SIGTERM', () => process.exit(0));

// The hello worker: one HTML page. The worker contract: listen on 127.0.0.1:$WORKER_PORT and
// answer GET /health with 200.
import { createServer } from 'node:http';

const port = Number(process.env.WORKER_PORT);
const mode = process.env.WORKER_MODE;

const page = (path) => `<!doctype html>
<html><head><meta charset="utf-8"><title>tqserver</title><link rel="stylesheet" href="/style.css"></head>
<body><main>
<h1>Hello from tqserver</h1>
<p>This page comes from the <code>hello</code> worker (pid ${process.pid}, port ${port}), for <code>${path.replace(/[<>&"]/g, '')}</code>.</p>
<p>Try <a href="/api/items">/api/items</a> and <a href="/metrics">/metrics</a>.</p>
</main>${mode === 'dev' ? '<script src="/dev-reload.js"></script>' : ''}</body></html>
`;

createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(page(req.url ?? '/'));
}).listen(port, '127.0.0.1');

process.on('SIGTERM', () => process.exit(0));

/**
 * Error answers: a small HTML page, or JSON when the client prefers JSON. Respond-or-destroy:
 * once a response has started, the only honest signal left is to cut the connection.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';

/** Escapes text for HTML. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Whether a client that sent `accept` (its Accept header) would rather have JSON than HTML. */
export function wantsJson(accept: string | undefined): boolean {
  return accept !== undefined && accept.includes('application/json') && !accept.includes('text/html');
}

/** The body of an error answer: a small HTML page, or JSON (`json`: the client prefers it). */
export function errorPage(status: number, message: string, json: boolean): { readonly body: string; readonly type: string } {
  if (json) return { body: JSON.stringify({ error: { status, message } }) + '\n', type: 'application/json' };
  const title = `${status} ${STATUS_CODES[status] ?? 'Error'}`;
  return {
    body: `<!doctype html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>\n<body><h1>${escapeHtml(title)}</h1>\n<p>${escapeHtml(message)}</p>\n<hr><p><small>tqserver</small></p></body></html>\n`,
    type: 'text/html; charset=utf-8',
  };
}

/**
 * Sends `status` with a short explanation; if the response has already started, destroys the
 * socket instead (the client then sees a broken response, never a hanging one).
 */
export function sendError(req: IncomingMessage, res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const { body, type } = errorPage(status, message, wantsJson(req.headers.accept));
  res.writeHead(status, { ...headers, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** A dev-mode failure page: `output` (the compiler's or the worker's), and the live-reload script. */
function sendDevFailure(req: IncomingMessage, res: ServerResponse, status: number, title: string, output: string, headers: Record<string, string>): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body =
    `<!doctype html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>` +
    `<style>body{font-family:system-ui,sans-serif;margin:2rem}pre{background:#111;color:#eee;padding:1rem;overflow:auto}</style></head>\n` +
    `<body><h1>${escapeHtml(title)}</h1>\n<p>${escapeHtml(new Date().toISOString())}. Fix the error and save: this page reloads itself.</p>\n` +
    `<pre>${escapeHtml(output)}</pre>\n<script src="/dev-reload.js"></script></body></html>\n`;
  res.writeHead(status, { ...headers, 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** The dev-mode build-error page (500). */
export function sendBuildError(req: IncomingMessage, res: ServerResponse, worker: string, output: string, headers: Record<string, string> = {}): void {
  sendDevFailure(req, res, 500, `Build failed: ${worker}`, output, headers);
}

/** The dev-mode page for a worker whose instances fail to start (503), with what they wrote to stderr. */
export function sendStartError(req: IncomingMessage, res: ServerResponse, worker: string, output: string, headers: Record<string, string> = {}): void {
  sendDevFailure(req, res, 503, `Worker failed to start: ${worker}`, output, { ...headers, 'Retry-After': '1' });
}

/** The HTTP side: routing, forwarding, static files, error pages, dev-mode live reload. */
export { ProxyServer, UNMATCHED_ROUTE, type ProxyOptions, type MetricsHandler } from './server.js';
export { Router, type Route, type Match } from './router.js';
export { endToEnd, validCorrelationId } from './headers.js';
export { resolvePublicPath, serveStatic } from './static.js';
export { methodLabel } from './methods.js';
export { sendError, escapeHtml } from './error-page.js';
export { LiveReload, RELOAD_SCRIPT, acceptKey } from './live-reload.js';

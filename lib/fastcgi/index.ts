/**
 * A FastCGI 1.0 client of tqserver's own (no dependencies), for php-fpm: records, name-value
 * pairs, the CGI variables and response, kept connections, the HTTP exchange, and php-fpm's
 * ping and status pages.
 */
export { RecordType, ProtocolStatus, MAX_CONTENT_LENGTH, HEADER_LEN, FLAG_KEEP_CONN, ROLE_RESPONDER, VERSION_1 } from './protocol.js';
export { recordHeader, encodeStream, endOfStream, beginRequest, endRequest, parseEndRequest, paddingFor, type EndRequest } from './record.js';
export { RecordParser, type RecordHandler } from './record-parser.js';
export { encodeNameValuePairs, decodeNameValuePairs } from './name-value.js';
export { cgiParams, cgiHeaderName, hostName, isWireParam, type CgiRequest } from './cgi-params.js';
export { CgiResponseParser, MAX_CGI_HEAD_BYTES, type CgiResponseHandler } from './cgi-response.js';
export { FastCgiPool, IDLE_TIMEOUT_MS } from './connection-pool.js';
export { fastcgiExchange, type FastCgiTarget } from './exchange.js';
export { fastcgiRequest, FastCgiRequestError, type FastCgiResponse } from './request.js';
export { PHP_FPM_PING_PATH, PHP_FPM_STATUS_PATH, PHP_FPM_PING_RESPONSE, pageParams, parsePhpFpmStatus, type PhpFpmStatus } from './php-fpm-status.js';
export { FastCgiProtocolError } from './errors.js';

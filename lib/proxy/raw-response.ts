/**
 * Responses written straight to a socket that has no ServerResponse (a request Node could not
 * parse, an upgrade refused): the status line comes from Node's own table, so every place says
 * the same reason phrase for the same code.
 */
import { STATUS_CODES } from 'node:http';

/** `HTTP/1.1 <status> <reason>` for `status`. */
export function statusLine(status: number): string {
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}`;
}

/**
 * A whole response that closes the connection: the status line, `headers` (raw,
 * `[name, value, ...]`), and `body` (plain text) with its Content-Length.
 */
export function closingResponse(status: number, body = '', headers: readonly string[] = []): string {
  let head = `${statusLine(status)}\r\nConnection: close\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  if (body !== '') head += 'Content-Type: text/plain; charset=utf-8\r\n';
  return `${head}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/**
 * Writing FastCGI records (spec 3.3): an 8-byte header (version, type, requestId, contentLength,
 * paddingLength, reserved), the content, then padding. Content longer than 65535 bytes is split
 * over several records of the same type, which is how the byte streams (PARAMS, STDIN) are sent.
 */
import { FLAG_KEEP_CONN, HEADER_LEN, MAX_CONTENT_LENGTH, RecordType, ROLE_RESPONDER, VERSION_1 } from './protocol.js';

/**
 * Padding that rounds `contentLength` up to a multiple of 8: spec 3.3 recommends aligned
 * records ("for more efficient processing"); it does not require them.
 */
export function paddingFor(contentLength: number): number {
  return (8 - (contentLength & 7)) & 7;
}

/** A record header for `contentLength` bytes of content followed by `paddingLength` bytes. */
export function recordHeader(type: number, requestId: number, contentLength: number, paddingLength: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER_LEN);
  h[0] = VERSION_1;
  h[1] = type;
  h.writeUInt16BE(requestId, 2);
  h.writeUInt16BE(contentLength, 4);
  h[6] = paddingLength;
  h[7] = 0;
  return h;
}

/**
 * The records that carry `content` as one stream of `type`, each at most 65535 bytes of content
 * and padded to 8 bytes, in one buffer. Empty content gives no record: the empty record that
 * ends a stream is {@link endOfStream}'s.
 */
export function encodeStream(type: number, requestId: number, content: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < content.length; at += MAX_CONTENT_LENGTH) {
    const piece = content.subarray(at, Math.min(content.length, at + MAX_CONTENT_LENGTH));
    const padding = paddingFor(piece.length);
    parts.push(recordHeader(type, requestId, piece.length, padding), piece);
    if (padding > 0) parts.push(Buffer.alloc(padding));
  }
  return Buffer.concat(parts);
}

/** The empty record that ends a stream (PARAMS, STDIN, STDOUT, STDERR: spec 3.3). */
export function endOfStream(type: number, requestId: number): Buffer {
  return recordHeader(type, requestId, 0, 0);
}

/** A BEGIN_REQUEST record for the RESPONDER role (spec 5.1), asking to keep the connection if `keepConn`. */
export function beginRequest(requestId: number, keepConn: boolean): Buffer {
  const r = Buffer.alloc(HEADER_LEN + 8);
  recordHeader(RecordType.BEGIN_REQUEST, requestId, 8, 0).copy(r, 0);
  r.writeUInt16BE(ROLE_RESPONDER, HEADER_LEN);
  r[HEADER_LEN + 2] = keepConn ? FLAG_KEEP_CONN : 0;
  return r;
}

/** The body of an END_REQUEST record (spec 5.5). */
export interface EndRequest {
  readonly appStatus: number;
  readonly protocolStatus: number;
}

/** Reads END_REQUEST content; undefined if it is shorter than the 8 bytes the spec gives it. */
export function parseEndRequest(content: Buffer): EndRequest | undefined {
  if (content.length < 8) return undefined;
  return { appStatus: content.readUInt32BE(0), protocolStatus: content[4] as number };
}

/** An END_REQUEST record (for tests and fake applications). */
export function endRequest(requestId: number, appStatus: number, protocolStatus: number): Buffer {
  const r = Buffer.alloc(HEADER_LEN + 8);
  recordHeader(RecordType.END_REQUEST, requestId, 8, 0).copy(r, 0);
  r.writeUInt32BE(appStatus >>> 0, HEADER_LEN);
  r[HEADER_LEN + 4] = protocolStatus;
  return r;
}

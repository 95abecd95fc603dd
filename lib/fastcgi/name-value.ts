/**
 * FastCGI name-value pairs (spec 3.4), the content of PARAMS and GET_VALUES records: the name's
 * length, the value's length, then the name and value bytes. A length under 128 takes 1 byte;
 * a longer one takes 4, big-endian, with the top bit set (so at most 2^31 - 1).
 */
import { FastCgiProtocolError } from './errors.js';

/** Largest length the 4-byte form can say. */
const MAX_LENGTH = 0x7fffffff;

function lengthBytes(n: number): number {
  return n < 128 ? 1 : 4;
}

function writeLength(out: Buffer, at: number, n: number): number {
  if (n < 128) {
    out[at] = n;
    return at + 1;
  }
  out.writeUInt32BE((n | 0x80000000) >>> 0, at);
  return at + 4;
}

/**
 * Encodes `pairs` (`[name, value, name, value, ...]`) as one byte stream of name-value pairs.
 * Text is UTF-8, except the values of names `fromWire` says came off the wire as bytes (Node
 * gives request headers and targets as latin1 strings): those are written back byte for byte,
 * so a header's UTF-8 reaches the application once, not encoded twice. The stream may be cut
 * into records anywhere: a pair may span records (spec 3.4).
 */
export function encodeNameValuePairs(pairs: readonly string[], fromWire: (name: string) => boolean = () => false): Buffer {
  const names: Buffer[] = [];
  let size = 0;
  for (let i = 0; i < pairs.length; i++) {
    const text = pairs[i] as string;
    const b = Buffer.from(text, i % 2 === 1 && fromWire(pairs[i - 1] as string) ? 'latin1' : 'utf8');
    if (b.length > MAX_LENGTH) throw new RangeError(`a FastCGI name or value is at most ${MAX_LENGTH} bytes`);
    names.push(b);
    size += b.length + lengthBytes(b.length);
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = 0; i + 1 < names.length; i += 2) {
    const name = names[i] as Buffer;
    const value = names[i + 1] as Buffer;
    at = writeLength(out, at, name.length);
    at = writeLength(out, at, value.length);
    at += name.copy(out, at);
    at += value.copy(out, at);
  }
  return out;
}

function readLength(data: Buffer, at: number): [number, number] {
  const first = data[at];
  if (first === undefined) throw new FastCgiProtocolError('name-value pair cut short in a length');
  if (first < 128) return [first, at + 1];
  if (at + 4 > data.length) throw new FastCgiProtocolError('name-value pair cut short in a 4-byte length');
  return [data.readUInt32BE(at) & MAX_LENGTH, at + 4];
}

/**
 * Decodes a whole stream of name-value pairs (the records' contents joined) into
 * `[name, value, ...]`. Throws FastCgiProtocolError if it ends inside a pair.
 */
export function decodeNameValuePairs(data: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < data.length) {
    const [nameLength, afterName] = readLength(data, at);
    const [valueLength, afterValue] = readLength(data, afterName);
    const end = afterValue + nameLength + valueLength;
    if (end > data.length) throw new FastCgiProtocolError('name-value pair cut short in its bytes');
    out.push(data.toString('utf8', afterValue, afterValue + nameLength), data.toString('utf8', afterValue + nameLength, end));
    at = end;
  }
  return out;
}

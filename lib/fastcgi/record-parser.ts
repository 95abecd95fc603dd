/**
 * An incremental FastCGI record reader (spec 3.3): fed bytes as they arrive, in pieces of any
 * size, it calls back once per complete record with its type, request id and content (padding
 * dropped). A record is at most 8 + 65535 + 255 bytes, so at most that much is ever held.
 */
import { FastCgiProtocolError } from './errors.js';
import { HEADER_LEN, VERSION_1 } from './protocol.js';

/** Called once per complete record. `content` may be a view of the fed bytes: copy it to keep it. */
export type RecordHandler = (type: number, requestId: number, content: Buffer) => void;

/** Reads one connection's records; make one per connection. */
export class RecordParser {
  readonly #onRecord: RecordHandler;
  /** Bytes of an incomplete record (header included), carried over to the next feed. */
  #pending: Buffer | undefined;

  constructor(onRecord: RecordHandler) {
    this.#onRecord = onRecord;
  }

  /** Whether a record has begun and not ended (so the stream may not end here). */
  get partial(): boolean {
    return this.#pending !== undefined;
  }

  /**
   * Feeds bytes; calls the handler for every record they complete. Throws FastCgiProtocolError
   * on a record whose version is not 1. A handler that throws stops the feed with its error.
   */
  feed(data: Buffer): void {
    let input = data;
    if (this.#pending !== undefined) {
      input = Buffer.concat([this.#pending, data]);
      this.#pending = undefined;
    }
    let at = 0;
    while (input.length - at >= HEADER_LEN) {
      if (input[at] !== VERSION_1) throw new FastCgiProtocolError(`record version ${input[at]}, expected ${VERSION_1}`);
      const contentLength = input.readUInt16BE(at + 4);
      const total = HEADER_LEN + contentLength + (input[at + 6] as number);
      if (input.length - at < total) break;
      const start = at + HEADER_LEN;
      at += total;
      this.#onRecord(input[start - 7] as number, input.readUInt16BE(start - 6), input.subarray(start, start + contentLength));
    }
    // A copy, so that a small remainder does not keep a large chunk alive.
    if (at < input.length) this.#pending = Buffer.from(input.subarray(at));
  }
}

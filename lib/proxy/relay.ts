/** Copying a body from one stream to another, with backpressure and an error path on each side. */
import type { Readable, Writable } from 'node:stream';

/**
 * Copies `source` into `sink`: pauses `source` while `sink` is full, ends `sink` when `source`
 * ends, and on an error or early close of either side destroys the other. `done` runs once:
 * without an error when `sink` finished, else with the reason.
 *
 * stream.pipeline would do the same, and STYLE.md asks for it; but in Node 20 every pipeline()
 * call creates and aborts an AbortController (with a DOMException), which was over 10% of the
 * proxy's CPU in a profile of small responses. Each proxied request needs one or two copies, so
 * this small relay takes its place. Its listeners stay attached, so a late 'error' is never
 * unhandled.
 */
export function relay(source: Readable, sink: Writable, done: (err?: Error) => void): void {
  let settled = false;
  const finish = (err?: Error): void => {
    if (settled) return;
    settled = true;
    done(err);
  };
  source.on('data', (chunk: Buffer) => {
    if (!sink.write(chunk)) source.pause();
  });
  sink.on('drain', () => source.resume());
  source.on('end', () => sink.end());
  source.on('error', (err: Error) => {
    sink.destroy();
    finish(err);
  });
  source.on('close', () => {
    if (!source.readableEnded) {
      sink.destroy();
      finish(new Error('the body broke off'));
    }
  });
  sink.on('finish', () => finish());
  sink.on('error', (err: Error) => {
    source.destroy();
    finish(err);
  });
  sink.on('close', () => {
    if (!sink.writableFinished) {
      source.destroy();
      finish(new Error('the receiving side closed early'));
    }
  });
}

/**
 * One client connection: its requests are served one at a time, in order (RFC 9112 9.3), and
 * what its socket read and wrote is shared out among them for the byte counters.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

const kBytesRead = Symbol('tqserver.bytesRead');
const kBytesWritten = Symbol('tqserver.bytesWritten');
const kConnection = Symbol('tqserver.connection');

/**
 * A client connection's requests: the one being served, and those Node parsed behind it
 * (pipelined) that wait their turn.
 */
interface Connection {
  busy: boolean;
  /** Waiting requests, as pairs: request, response, request, response, ... */
  readonly waiting: (IncomingMessage | ServerResponse)[];
}

/**
 * A client socket as the server sees it. `_paused` and `parser` are Node's own
 * (lib/_http_server.js): while `_paused` is set, Node keeps the socket and, after the current
 * read, its request parser paused; that is its back-pressure for pipelined requests, and the only
 * way to stop it parsing more of them.
 */
type ClientSocket = Socket & {
  [kBytesRead]?: number;
  [kBytesWritten]?: number;
  [kConnection]?: Connection;
  _paused?: boolean;
  parser?: { pause(): void; resume(): void } | null;
};

/** Bytes read and written on `socket` since the last call for it (a request's share). */
export function socketDelta(socket: ClientSocket | null): [number, number] {
  if (socket === null) return [0, 0];
  const read = socket.bytesRead;
  const written = socket.bytesWritten;
  const delta: [number, number] = [read - (socket[kBytesRead] ?? 0), written - (socket[kBytesWritten] ?? 0)];
  socket[kBytesRead] = read;
  socket[kBytesWritten] = written;
  return delta;
}

/**
 * Requests of one connection that may wait, parsed, behind the one being served before the
 * socket is no longer read. Browsers do not pipeline; a client that sends more is served as fast
 * as it reads, with at most this many (plus the rest of one read) parsed ahead.
 */
const PIPELINE_DEPTH = 16;

/** Stops reading from `socket` (see ClientSocket). */
function holdReading(socket: ClientSocket): void {
  if (socket._paused === true) return;
  socket._paused = true;
  socket.pause();
}

/** Reads from `socket` again. */
function resumeReading(socket: ClientSocket): void {
  if (socket._paused !== true) return;
  socket._paused = false;
  socket.parser?.resume();
  socket.resume();
}

/**
 * Calls `serve(req, res)` when it is this request's turn on its connection. Up to PIPELINE_DEPTH
 * requests may wait with the socket still read (so that a client who leaves is noticed at once);
 * past that, and while the client has not read the last response, the socket is not read at
 * all. So one client cannot make tqserver parse, dispatch or buffer thousands of requests it
 * has not answered. A request waits only for responses finished; those that never finish take
 * the connection, and what waited behind them, with them.
 */
export function inTurn(req: IncomingMessage, res: ServerResponse, serve: (req: IncomingMessage, res: ServerResponse) => void): void {
  const socket = req.socket as ClientSocket;
  let connection = socket[kConnection];
  if (connection === undefined) {
    connection = { busy: false, waiting: [] };
    socket[kConnection] = connection;
  }
  if (connection.busy) {
    connection.waiting.push(req, res);
    if (connection.waiting.length >= PIPELINE_DEPTH * 2) holdReading(socket);
    return;
  }
  start(connection, socket, req, res, serve);
}

function start(connection: Connection, socket: ClientSocket, req: IncomingMessage, res: ServerResponse, serve: (req: IncomingMessage, res: ServerResponse) => void): void {
  connection.busy = true;
  serve(req, res);
  // 'close' comes once: a plain listener spares the wrapper `once` makes.
  res.on('close', () => {
    // A response that did not finish took the connection with it, and one that closes the
    // connection (Connection: close, RFC 9112 9.6) is the last it answers: what waited behind
    // it is never started, so it has nothing to settle.
    if (!res.writableFinished || socket.destroyed || socket.writableEnded || !res.shouldKeepAlive) {
      connection.busy = false;
      connection.waiting.length = 0;
      return;
    }
    // The next response waits until the client has read this one.
    if (socket.writableNeedDrain) {
      holdReading(socket);
      socket.once('drain', () => next(connection, socket, serve));
    } else {
      next(connection, socket, serve);
    }
  });
}

/** Starts the request that waited longest, if any, and reads on when there is room. */
function next(connection: Connection, socket: ClientSocket, serve: (req: IncomingMessage, res: ServerResponse) => void): void {
  connection.busy = false;
  if (socket.destroyed) {
    connection.waiting.length = 0;
    return;
  }
  if (connection.waiting.length > 0) {
    const req = connection.waiting.shift() as IncomingMessage;
    const res = connection.waiting.shift() as ServerResponse;
    start(connection, socket, req, res, serve);
  }
  // Node resumes reading on its own whenever the next queued response takes the socket; with
  // many requests still waiting, it is held again before that takes effect.
  if (connection.waiting.length < PIPELINE_DEPTH * 2) resumeReading(socket);
  else holdReading(socket);
}

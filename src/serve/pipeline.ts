/**
 * One request at a time per connection. HTTP/1.1 lets a client send many requests on one
 * connection without waiting for answers (pipelining); Node parses all of them as they arrive,
 * calls the request handler for each at once and sends the answers in order. It stops reading a
 * connection only while answers wait to be sent, so handlers that answer later (inference,
 * /metrics) let one connection start thousands of them: 20,000 pipelined GET /metrics each
 * started a render and a health check meanwhile took 4.5 s. And only the first request of a
 * connection sees its `close` when the client leaves; the ones queued behind it were kept forever.
 *
 * Here a request starts once every earlier request on its connection is answered and the socket
 * has sent what it had buffered (a client that stops reading holds no more than one answer), and
 * the requests still waiting when the connection closes are dropped without being started.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

interface Turn {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly start: () => void;
  readonly drop: () => void;
}

interface Connection {
  readonly socket: Socket;
  /** The request started and not yet answered. */
  running: Turn | undefined;
  readonly waiting: Turn[];
  /** Something to do once every request on the connection is answered (an answer to a parse error). */
  last: (() => void) | undefined;
  waitingForDrain: boolean;
}

export class ConnectionQueues {
  private readonly connections = new Map<Socket, Connection>();
  private waitingCount = 0;

  /** Requests received and waiting for an earlier request on their connection to be answered. */
  get waiting(): number {
    return this.waitingCount;
  }

  /**
   * Calls `start` when every earlier request on `req`'s connection is answered (at once when there
   * is none), or `drop` if the connection closes first.
   */
  enqueue(req: IncomingMessage, res: ServerResponse, start: () => void, drop: () => void): void {
    const connection = this.connectionOf(req.socket);
    if (connection === undefined) {
      drop();
      return;
    }
    connection.waiting.push({ req, res, start, drop });
    this.waitingCount++;
    this.next(connection);
  }

  /** The request started on `socket` and not yet answered, if any. */
  running(socket: Socket): { readonly req: IncomingMessage; readonly res: ServerResponse } | undefined {
    return this.connections.get(socket)?.running;
  }

  /** Calls `last` once every request received on `socket` is answered (at once when none is open). */
  afterLast(socket: Socket, last: () => void): void {
    const connection = this.connectionOf(socket);
    if (connection === undefined) return;
    connection.last = last;
    this.next(connection);
  }

  private connectionOf(socket: Socket): Connection | undefined {
    if (socket.destroyed) return undefined;
    let connection = this.connections.get(socket);
    if (connection === undefined) {
      const created: Connection = { socket, running: undefined, waiting: [], last: undefined, waitingForDrain: false };
      this.connections.set(socket, created);
      socket.once('close', () => this.closed(created));
      connection = created;
    }
    return connection;
  }

  private next(connection: Connection): void {
    if (connection.running !== undefined || connection.waitingForDrain || connection.socket.destroyed) return;
    if (connection.socket.writableNeedDrain) {
      // The client is not reading what it was sent: start nothing more until it does.
      connection.waitingForDrain = true;
      connection.socket.once('drain', () => {
        connection.waitingForDrain = false;
        this.next(connection);
      });
      return;
    }
    const turn = connection.waiting.shift();
    if (turn === undefined) {
      const last = connection.last;
      connection.last = undefined;
      last?.();
      return;
    }
    this.waitingCount--;
    connection.running = turn;
    const answered = (): void => {
      if (connection.running !== turn) return;
      connection.running = undefined;
      this.next(connection);
    };
    turn.res.once('finish', answered);
    turn.res.once('close', answered);
    turn.start();
  }

  private closed(connection: Connection): void {
    this.connections.delete(connection.socket);
    connection.last = undefined;
    const dropped = connection.waiting.splice(0);
    this.waitingCount -= dropped.length;
    for (const turn of dropped) turn.drop();
  }
}

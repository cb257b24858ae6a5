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
 * the requests still waiting when the connection closes are dropped without being started. A
 * connection with more than PIPELINE_DEPTH_LIMIT requests waiting is closed (see there).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Most requests one connection may have waiting for their turn; one more closes the connection
 * (the waiting ones are dropped). Node stops parsing a connection only while answers wait to be
 * sent, so a client that reads its answers can pipeline without end, each request parsed and held
 * at about 1.5 KB (20,000 GET requests measured on Node 20): 1,024 bounds that at about 2 MB a
 * connection, far above what clients that pipeline use (autocannon -p and wrk send 1-16 ahead).
 */
export const PIPELINE_DEPTH_LIMIT = 1024;

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
    if (connection.waiting.length > PIPELINE_DEPTH_LIMIT) {
      connection.socket.destroy();
      return;
    }
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
      // The next pipelined request starts on a later turn of the event loop. Started here, an
      // answer that the socket takes at once ('finish' comes on the next tick) would start the
      // next one, and so on, without the event loop ever reading another connection: a health
      // check waited 1.3 s (p99) behind two connections of 20,000 pipelined /metrics. (1,000
      // pipelined health checks took 270 ms this way against 184-411 ms from a bare Node server
      // on the loaded 2-core VM: the turn costs nothing measurable there.)
      if (connection.waiting.length > 0) setImmediate(() => this.next(connection));
      else this.next(connection);
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

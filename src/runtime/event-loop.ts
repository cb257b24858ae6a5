/**
 * Lets the event loop run (timers, sockets, RPC replies) before the caller's next synchronous
 * step. Session creation plans a network in several CPU-bound phases of up to a second or two
 * each; awaiting this between them keeps a server that loads a model answering its other
 * requests and health probes meanwhile.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

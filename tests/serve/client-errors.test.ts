/**
 * Requests that Node's HTTP parser refuses (framing, method, URL bytes, header size, header
 * timeout) sent as raw bytes: each gets the server's JSON error body with the status Node uses
 * (400, 408, 431) and `Connection: close`, not Node's bare status line. Fake sessions; the parser
 * never lets these requests reach a handler, except the malformed chunked body, whose request is
 * already being read.
 */
import { describe, it, expect } from 'vitest';
import { fakeSession } from '../batcher/fake-session';
import { startServer } from './helpers';
import { RawConnection } from '../../bench/serve/raw-http';

const INFER = 'POST /v2/models/inception_v4/infer HTTP/1.1\r\nHost: x\r\n';

const CASES: [name: string, bytes: string, status: number, message: RegExp][] = [
  ['a non-numeric Content-Length', `${INFER}Content-Length: abc\r\n\r\n`, 400, /Content-Length must be a non-negative decimal integer/],
  ['a negative Content-Length', `${INFER}Content-Length: -1\r\n\r\n`, 400, /Content-Length must be a non-negative decimal integer/],
  ['Content-Length twice', `${INFER}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab`, 400, /Content-Length/],
  ['Content-Length with Transfer-Encoding', `${INFER}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400, /Transfer-Encoding/],
  ['a malformed chunked body', `${INFER}Transfer-Encoding: chunked\r\n\r\nzz\r\n`, 400, /chunk/],
  ['an unknown method', 'FOO /v2 HTTP/1.1\r\nHost: x\r\n\r\n', 400, /method/],
  ['TLS bytes on the plain port', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', 400, /method/],
  ['a control byte in the URL', 'GET /v2/\x01 HTTP/1.1\r\nHost: x\r\n\r\n', 400, /percent-encode/],
  ['an unknown HTTP version', 'GET /v2 HTTP/9.9\r\nHost: x\r\n\r\n', 400, /HTTP\/1\.1/],
  ['headers over 16 KiB', `GET /v2 HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, /headers/],
];

describe('requests the HTTP parser refuses', () => {
  it.each(CASES)('%s: the status Node uses, with a JSON error body and Connection: close', async (_name, bytes, status, message) => {
    const fake = fakeSession();
    const { server, url } = await startServer({ sessions: [fake.session] });
    try {
      const client = await RawConnection.open(url);
      client.write(Buffer.from(bytes, 'latin1'));
      const [reply] = await client.waitFor(1, 2000);
      expect(reply.status).toBe(status);
      expect(reply.headers['content-type']).toBe('application/json');
      expect(reply.headers.connection).toBe('close');
      const body = reply.json();
      expect(Object.keys(body)).toEqual(['error']);
      expect(body.error).toMatch(message);
      expect(await client.closesWithin(2000)).toBe(true);
      // Counted like any other answer; the malformed chunked body belongs to an infer request.
      const failures = (await server.registry.getSingleMetric('inception_request_failure_total')?.get())?.values ?? [];
      const endpoint = bytes.startsWith(INFER) && bytes.includes('chunked\r\n\r\nzz') ? 'infer' : 'malformed';
      expect(failures.map((v) => [v.labels.endpoint, v.labels.status, v.value])).toEqual([[endpoint, String(status), 1]]);
      // The server is unharmed.
      expect((await fetch(`${url}/v2/health/live`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('headers that do not arrive in time: 408 with a JSON error body', async () => {
    const fake = fakeSession();
    const { server, url } = await startServer({ sessions: [fake.session] });
    // Node checks the header timeout on an interval (the server sets it to 1 s); a short timeout keeps the test short.
    server.http.headersTimeout = 200;
    try {
      const client = await RawConnection.open(url);
      client.write('GET /v2 HTTP/1.1\r\nHost: x\r\n');
      // Bound: 200 ms timeout + one 1 s check interval, with slack for a loaded machine.
      const [reply] = await client.waitFor(1, 4000);
      expect(reply.status).toBe(408);
      expect(reply.headers['content-type']).toBe('application/json');
      expect(reply.json().error).toMatch(/did not arrive within 200 ms/);
    } finally {
      await server.close();
    }
  });
});

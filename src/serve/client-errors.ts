/**
 * Answers to what Node's HTTP parser refuses (its `clientError` event): a bad or negative
 * Content-Length, Content-Length with Transfer-Encoding, bad chunking, an unknown method, raw
 * bytes in the URL, a request that did not arrive in time (408) and oversized headers (431).
 * Node's own answer is a bare status line; these carry the server's JSON error body, with the
 * status Node uses and `Connection: close` (the parser cannot go on after an error).
 */
import { STATUS_CODES } from 'node:http';

export interface ClientErrorLimits {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly maxHeaderBytes: number;
}

/** Where the parser was: in the headers of a request, or in the body of one being handled. */
export type ParsePhase = 'headers' | 'body';

/** What Node attaches to a parser error. */
export interface ParserError extends Error {
  readonly code?: string;
  /** llhttp's description, e.g. 'Invalid character in Content-Length'. */
  readonly reason?: string;
}

export function clientErrorReply(error: ParserError, phase: ParsePhase, limits: ClientErrorLimits): { status: number; message: string } {
  const code = error.code ?? 'unknown';
  switch (code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        status: 408,
        message:
          phase === 'headers'
            ? `the request headers did not arrive within ${limits.headersTimeoutMs} ms; send the whole header block at once`
            : `the request did not arrive in full within ${limits.requestTimeoutMs} ms; send the body without pauses`,
      };
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, message: `the request headers exceed ${limits.maxHeaderBytes} bytes; send fewer or shorter headers` };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, message: 'the chunk extensions of the request body are too large; send the body without chunk extensions' };
  }
  return { status: 400, message: `malformed HTTP request (${code}: ${error.reason ?? error.message}): ${HINTS[code] ?? 'send a valid HTTP/1.1 request'}` };
}

const HINTS: Readonly<Record<string, string>> = {
  HPE_INVALID_CONTENT_LENGTH: 'Content-Length must be a non-negative decimal integer',
  HPE_UNEXPECTED_CONTENT_LENGTH: 'send Content-Length once, and not with Transfer-Encoding',
  HPE_INVALID_TRANSFER_ENCODING: 'send either Content-Length or Transfer-Encoding: chunked (the only transfer coding), not both',
  HPE_INVALID_CHUNK_SIZE: 'the chunked body is malformed (each chunk: hex size, CRLF, data, CRLF; then 0 CRLF CRLF)',
  HPE_INVALID_METHOD: 'the request method is not one HTTP defines; this server takes GET, HEAD and POST (TLS needs a proxy in front)',
  HPE_INVALID_URL: 'the request target has a byte not allowed in a URL; percent-encode it',
  HPE_INVALID_VERSION: 'use HTTP/1.1 (or HTTP/1.0)',
  HPE_INVALID_HEADER_TOKEN: 'a header name or value holds a byte not allowed there',
  HPE_LF_EXPECTED: 'lines must end with CRLF',
  HPE_CR_EXPECTED: 'lines must end with CRLF',
};

/** A whole HTTP/1.1 response with `{"error": message}`, written straight to a socket that has no response object. */
export function rawErrorResponse(status: number, message: string): Buffer {
  const body = JSON.stringify({ error: message });
  return Buffer.from(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

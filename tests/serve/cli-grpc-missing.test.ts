/**
 * `serve` when the optional gRPC packages are not installed (simulated: grpcAvailable answers
 * false): --grpc-port given is a usage error (exit 2) naming the npm command, never ignored;
 * and loadGrpc names the command when a package is missing.
 */
import { describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main';
import { BackendUnavailableError } from '../../src/errors';
import { GRPC_HINT, loadGrpc } from '../../src/serve/grpc/load';

vi.mock('../../src/serve/grpc/load', async (importOriginal) => ({ ...(await importOriginal<object>()), grpcAvailable: () => false }));

function capture(): { io: { stdout(t: string): void; stderr(t: string): void }; err: string[] } {
  const err: string[] = [];
  return { io: { stdout: () => undefined, stderr: (t) => void err.push(t) }, err };
}

describe('serve without @grpc/grpc-js and @grpc/proto-loader', () => {
  it('--grpc-port given explicitly exits 2 with the npm install command, before any session is created', async () => {
    const { io, err } = capture();
    expect(await main(['serve', '--model', 'inception_v4', '--weights', 'synthetic', '--port', '0', '--grpc-port', '8001'], io)).toBe(2);
    expect(err.join('')).toMatch(/--grpc-port 8001: serving gRPC needs the optional packages @grpc\/grpc-js and @grpc\/proto-loader: npm install @grpc\/grpc-js @grpc\/proto-loader/);
  });

  it('--grpc-port with --no-grpc is a usage error', async () => {
    const { io, err } = capture();
    expect(await main(['serve', '--model', 'inception_v4', '--weights', 'synthetic', '--grpc-port', '1', '--no-grpc'], io)).toBe(2);
    expect(err.join('')).toMatch(/contradict/);
  });

  it('loadGrpc throws BackendUnavailableError naming the command when a package is missing', () => {
    expect(() => loadGrpc(['@grpc/grpc-js', 'no-such-package-for-this-test'])).toThrow(BackendUnavailableError);
    expect(() => loadGrpc(['@grpc/grpc-js', 'no-such-package-for-this-test'])).toThrow(GRPC_HINT);
  });
});

/**
 * `inception-cudnn serve` in process on the real CPU backend (skipped when the module is not
 * built): it prints where it listens, answers, and on the stop signal drains and exits 0.
 */
import { describe, it, expect } from 'vitest';
import { serveCommand } from '../../src/cli/serve';
import { main } from '../../src/cli/main';
import { cpuBackendInfo } from '../../src/native/cpu-backend';

const cpu = cpuBackendInfo();
const skipReason = cpu.available ? '' : ` [SKIPPED: CPU backend not built: ${cpu.reason?.split('\n')[0]}; run npm run build]`;

function capture(): { io: { stdout(t: string): void; stderr(t: string): void }; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (t) => void out.push(t), stderr: (t) => void err.push(t) }, out, err };
}

describe('serve command', () => {
  it('--help lists the serving options; a bad option is a usage error', async () => {
    const help = capture();
    expect(await main(['serve', '--help'], help.io)).toBe(0);
    expect(help.out.join('')).toMatch(/--max-queue-delay-us/);
    const bad = capture();
    expect(await main(['serve', '--model', 'inception_v4', '--weights', 'synthetic', '--port', 'x'], bad.io)).toBe(2);
    expect(bad.err.join('')).toMatch(/--port expects a non-negative integer/);
  });

  it.skipIf(!cpu.available)(`serves until the stop signal, then drains and exits 0${skipReason}`, async () => {
    const { io, err } = capture();
    let stop!: (signal: string) => void;
    const stopped = new Promise<string>((resolve) => (stop = resolve));
    const argv = ['--model', 'inception_resnet_v1', '--weights', 'synthetic', '--input-size', '80', '--max-batch', '2', '--threads', '1', '--port', '0', '--grpc-port', '0', '--token', 't'];
    const exit = serveCommand(argv, io, stopped);
    let url: string | undefined;
    for (let i = 0; i < 200 && url === undefined; i++) {
      await new Promise((r) => setTimeout(r, 25));
      url = /on (http:\/\/[^ ]+)\/v2\/models/.exec(err.join(''))?.[1];
    }
    expect(url).toBeDefined();
    expect((await fetch(`${url}/v2/health/ready`)).status).toBe(200);
    expect((await fetch(`${url}/v2/models/inception_resnet_v1`)).status).toBe(401);
    expect((await fetch(`${url}/v2/models/inception_resnet_v1`, { headers: { Authorization: 'Bearer t' } })).status).toBe(200);
    stop('SIGTERM');
    expect(await exit).toBe(0);
    expect(err.join('')).toMatch(/SIGTERM: no longer accepting[\s\S]*stopped/);
  });
});

/**
 * `inception-cudnn serve` in process on the real CPU backend (skipped when the module is not
 * built): it prints where it listens, answers, and on the stop signal drains and exits 0.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { grpc, outputOf, rawInfer, TestClient } from './grpc/grpc-client';
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
    // The start lines: what the session holds beside the container's memory limit, and the threads with their reason.
    expect(err.join('')).toMatch(/memory: 1 x \(weights [0-9.]+ MiB \+ arena [0-9.]+ MiB \+ workspace [0-9.]+ MiB\) = [0-9.]+ MiB held; (no container memory limit|container memory limit [0-9.]+ [MG]iB \(\S+\))\n/);
    expect(err.join('')).toMatch(/\(cpu, fp32, 1 instance\(s\), threads 1 \(set explicitly\), max batch 2, input 80x80\)/);
    expect((await fetch(`${url}/v2/health/ready`)).status).toBe(200);
    expect((await fetch(`${url}/v2/models/inception_resnet_v1`)).status).toBe(401);
    expect((await fetch(`${url}/v2/models/inception_resnet_v1`, { headers: { Authorization: 'Bearer t' } })).status).toBe(200);
    stop('SIGTERM');
    expect(await exit).toBe(0);
    expect(err.join('')).toMatch(/SIGTERM: no longer accepting[\s\S]*stopped/);
    expect(err.join('')).toMatch(/gRPC: serving inference.GRPCInferenceService on 127.0.0.1:[0-9]+/);
  });

  it('--config with a one-model option is a usage error naming the option', async () => {
    const bad = capture();
    expect(await main(['serve', '--config', 'models.json', '--model', 'inception_v4'], bad.io)).toBe(2);
    expect(bad.err.join('')).toMatch(/--model describes the one model of the shortcut; with --config models.json/);
  });

  it.skipIf(!cpu.available)(`--config serves two models, says where gRPC is served, and answers over it${skipReason}`, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'serve-config-'));
    const file = path.join(dir, 'models.json');
    const session = { model: 'inception_resnet_v1', weights: 'synthetic', inputSize: 80, threads: 1 };
    writeFileSync(file, JSON.stringify({ models: [{ name: 'faces', session, maxBatch: 2 }, { name: 'faces_b', session, maxBatch: 1, maxQueueSize: 8 }] }));
    const { io, err } = capture();
    let stop!: (signal: string) => void;
    const stopped = new Promise<string>((resolve) => (stop = resolve));
    const exit = serveCommand(['--config', file, '--port', '0', '--grpc-port', '0'], io, stopped);
    let grpcPort: number | undefined;
    for (let i = 0; i < 400 && grpcPort === undefined; i++) {
      await new Promise((r) => setTimeout(r, 25));
      const match = /gRPC: serving inference.GRPCInferenceService on 127.0.0.1:([0-9]+)/.exec(err.join(''));
      grpcPort = match === null ? undefined : Number(match[1]);
    }
    expect(grpcPort).toBeDefined();
    // Each model: its setup line, its memory line, and its serving line with its threads and why.
    expect(err.join('')).toMatch(/faces: setting up inception_resnet_v1 on cpu for batches up to 2/);
    expect(err.join('')).toMatch(/faces: memory: 1 x \(weights [0-9.]+ MiB \+ arena [0-9.]+ MiB \+ workspace [0-9.]+ MiB\)/);
    expect(err.join('')).toMatch(/serving faces \(cpu, fp32, 1 instance\(s\), threads [0-9]+ \([^)]+\), max batch 2, input 80x80\)/);
    expect(err.join('')).toMatch(/serving faces_b \(cpu, fp32, 1 instance\(s\), threads [0-9]+ \([^)]+\), max batch 1, input 80x80\)/);
    const client = new TestClient(grpcPort as number);
    const input = new Float32Array(3 * 80 * 80).fill(0.25);
    const a = await client.call('ModelInfer', rawInfer('faces', input, [1, 3, 80, 80]));
    const b = await client.call('ModelInfer', rawInfer('faces_b', input, [1, 3, 80, 80]));
    expect([a.code, b.code]).toEqual([grpc.status.OK, grpc.status.OK]);
    // Same model, same synthetic weights, same input: the same embedding (both CPU fp32 runs of batch 1: tolerance 0).
    expect(Array.from(outputOf(a.reply))).toEqual(Array.from(outputOf(b.reply)));
    client.close();
    stop('SIGTERM');
    expect(await exit).toBe(0);
  });
});

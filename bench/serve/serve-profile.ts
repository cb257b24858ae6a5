/**
 * Where the server's JS thread spends its time per request: runs `inception-cudnn serve` under
 * `node --cpu-prof`, drives it with autocannon (binary or JSON tensors), stops it with SIGTERM
 * (the profile is written at exit) and prints the functions with the most self time.
 *
 *   node lib/bench/serve-profile.js --body binary --images 1 --connections 16 --amount 1600
 *   node lib/bench/serve-profile.js --body json --images 1 --connections 4 --amount 200
 *
 * Options: --body binary|json, --images N per request, --size S (input S x S, default 160),
 * --connections C, --amount requests, --max-batch B (default 8), --delay-us D (default 2000),
 * --top K (default 25), --out DIR (default /tmp/inception-serve-profile).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as (options: Record<string, unknown>) => Promise<{ '2xx': number; non2xx: number; errors: number; duration: number; latency: { p50: number; p99: number } }>;

const ROOT = resolve(__dirname, '..', '..');
const MODEL = 'inception_resnet_v1';

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index < 0 ? fallback : (process.argv[index + 1] ?? fallback);
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function requestBody(kind: string, images: number, size: number): { body: Buffer | string; headers: Record<string, string> } {
  const count = images * 3 * size * size;
  const input = new Float32Array(count);
  for (let i = 0; i < count; i++) input[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
  const tensor = { name: 'input', shape: [images, 3, size, size], datatype: 'FP32' };
  if (kind === 'json') {
    return { body: JSON.stringify({ inputs: [{ ...tensor, data: Array.from(input) }] }), headers: { 'Content-Type': 'application/json' } };
  }
  const header = Buffer.from(JSON.stringify({ inputs: [{ ...tensor, parameters: { binary_data_size: input.byteLength } }], parameters: { binary_data_output: true } }));
  return {
    body: Buffer.concat([header, Buffer.from(input.buffer)]),
    headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) },
  };
}

async function main(): Promise<void> {
  const kind = option('body', 'binary');
  const images = Number(option('images', '1'));
  const size = Number(option('size', '160'));
  const connections = Number(option('connections', '16'));
  const amount = Number(option('amount', '1600'));
  const top = Number(option('top', '25'));
  const out = option('out', '/tmp/inception-serve-profile');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });

  const args = ['--cpu-prof', `--cpu-prof-dir=${out}`, join(ROOT, 'lib', 'cli.js'), 'serve', '--model', MODEL, '--weights', 'synthetic', '--port', '0'];
  args.push('--input-size', String(size), '--max-batch', option('max-batch', '8'), '--max-queue-delay-us', option('delay-us', '2000'));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const url = await new Promise<string>((resolveUrl, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = / on (http:\/\/[^ ]+?)\/v2\/models/.exec(stderr);
      if (match !== null) resolveUrl(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`the server exited with ${String(code)}:\n${stderr}`)));
  });
  const { body, headers } = requestBody(kind, images, size);
  const target = { url: `${url}/v2/models/${MODEL}/infer`, method: 'POST', body, headers, connections, timeout: 60 };
  await autocannon({ ...target, amount: Math.min(40, amount) });
  const result = await autocannon({ ...target, amount });
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;

  const file = readdirSync(out).find((f) => f.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error(`no .cpuprofile in ${out}`);
  const profile = JSON.parse(readFileSync(join(out, file), 'utf8')) as CpuProfile;
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const byFunction = new Map<string, number>();
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0) continue;
    const { functionName, url: source, lineNumber } = node.callFrame;
    const where = source === '' ? '' : ` ${source.replace(/^.*\/(lib|node_modules)\//, '$1/').replace(/^node:/, '')}:${lineNumber + 1}`;
    const key = `${functionName || '(anonymous)'}${where}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  }
  const totalUs = profile.endTime - profile.startTime;
  const idleUs = [...byFunction].filter(([k]) => k.startsWith('(idle)')).reduce((s, [, v]) => s + v, 0);
  const ok = result['2xx'];
  const line = (text: string): void => void process.stdout.write(`${text}\n`);
  line(`# JS-thread profile: ${kind} tensors, ${images} image(s)/request at ${size}x${size}, ${connections} connections, ${ok} ok of ${amount} (${result.non2xx} non-2xx, ${result.errors} errors)`);
  line(`load phase ${result.duration.toFixed(1)} s, ${((ok * images) / result.duration).toFixed(1)} images/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`);
  line(`profile ${(totalUs / 1e6).toFixed(1)} s (server start to exit, warm-up included), JS thread busy ${(((totalUs - idleUs) / totalUs) * 100).toFixed(1)}%; profile file ${join(out, file)}`);
  line('');
  line('| self ms | % of busy | function |');
  line('|---|---|---|');
  const busyUs = totalUs - idleUs;
  for (const [key, us] of [...byFunction].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)) {
    line(`| ${(us / 1000).toFixed(1)} | ${((us / busyUs) * 100).toFixed(1)} | ${key.replace(/\|/g, '\\|')} |`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`profile failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});

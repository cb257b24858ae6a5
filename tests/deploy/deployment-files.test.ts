/**
 * The Dockerfile and deploy/kserve agree with each other and with what serve does in a container:
 * the same --instances and --max-batch, requests = limits (a Guaranteed pod, whose CFS quota is
 * the CPU limit), at least one CPU of quota per instance, a grace period longer than the request
 * timeout (so SIGTERM's drain is not cut short), and a memory limit above what the sessions hold
 * by the plan (a lower bound; the compiled figure is in the ServingRuntime's comment). Read as
 * text: the files are small and their shape is ours.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planReport } from '../../src/cli/plan';

const REPO = resolve(__dirname, '../..');
const runtime = readFileSync(resolve(REPO, 'deploy/kserve/servingruntime.yaml'), 'utf8');
const service = readFileSync(resolve(REPO, 'deploy/kserve/inferenceservice.yaml'), 'utf8');
const dockerfile = readFileSync(resolve(REPO, 'Dockerfile'), 'utf8');

function arg(text: string, name: string): string {
  const match = new RegExp(`- --${name}=(\\S+)`).exec(text);
  if (match === null) throw new Error(`no --${name}= argument`);
  return match[1]!;
}

interface Resources {
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
}

function resources(text: string): Resources {
  const match = /resources:\s*\n\s*requests:\s*\n\s*cpu: "?([^"\n]+)"?\s*\n\s*memory: (\S+)\s*\n\s*limits:\s*\n\s*cpu: "?([^"\n]+)"?\s*\n\s*memory: (\S+)/.exec(text);
  if (match === null) throw new Error('no resources block with requests and limits of cpu and memory');
  return { requests: { cpu: match[1]!, memory: match[2]! }, limits: { cpu: match[3]!, memory: match[4]! } };
}

function bytes(quantity: string): number {
  const match = /^([0-9]+)(Mi|Gi)$/.exec(quantity);
  if (match === null) throw new Error(`memory '${quantity}': expected Mi or Gi`);
  return Number(match[1]) * 2 ** (match[2] === 'Gi' ? 30 : 20);
}

function dockerCmd(name: string): string {
  const cmd = /^CMD \[(.*)\]$/m.exec(dockerfile)?.[1] ?? '';
  const parts = cmd.split(',').map((p) => p.trim().replace(/^"|"$/g, ''));
  const at = parts.indexOf(`--${name}`);
  if (at < 0) throw new Error(`the Dockerfile's CMD has no --${name}`);
  return parts[at + 1]!;
}

describe('deployment files', () => {
  const instances = Number(arg(runtime, 'instances'));
  const maxBatch = Number(arg(runtime, 'max-batch'));

  it('the Dockerfile runs the same --instances and --max-batch as the ServingRuntime', () => {
    expect(dockerCmd('instances')).toBe(String(instances));
    expect(dockerCmd('max-batch')).toBe(String(maxBatch));
  });

  it('requests equal limits, the same in the ServingRuntime and the InferenceService', () => {
    const r = resources(runtime);
    expect(r.requests).toEqual(r.limits);
    expect(resources(service)).toEqual(r);
  });

  it('the CPU limit gives every instance at least one whole CPU of quota, and no --threads overrides it', () => {
    expect(Math.floor(Number(resources(runtime).limits.cpu))).toBeGreaterThanOrEqual(instances);
    expect(runtime).not.toMatch(/- --threads/);
    expect(dockerfile).not.toMatch(/"--threads"/);
  });

  it('the grace period outlasts the request timeout, so the SIGTERM drain can finish', () => {
    const grace = Number(/terminationGracePeriodSeconds: ([0-9]+)/.exec(service)?.[1]);
    expect(grace * 1000).toBeGreaterThan(Number(arg(runtime, 'request-timeout-ms')));
  });

  it('the memory limit is above what the sessions hold by the plan (weights + arena, AVX-512 layout)', () => {
    const model = /name: INCEPTION_MODEL\s*\n\s*value: (\S+)/.exec(runtime)![1]!;
    const planned = planReport(model, maxBatch, undefined, 'cpu-avx512');
    expect(bytes(resources(runtime).limits.memory)).toBeGreaterThan(instances * (planned.weightBytes + planned.arenaBytes));
  });
});

/** `info`: versions, models, backends, devices and the container's limits; never fails because a backend is missing. */
import { libraryInfo, type ContainerInfo, type LibraryInfo } from '../info';
import type { SessionOptions } from '../runtime/options';
import { createSession } from '../runtime/session';
import { describeThreads } from '../system/cpu-threads';
import { describeMemoryLimit, describeSessionBytes, formatBytes, memoryFit, type MemoryFit } from '../system/memory-fit';
import { COMMON_OPTIONS, optionalInteger, parse, printedHelp } from './args';
import { EXIT_OK, type CliIo } from './io';

/** What one CPU session of a model holds, measured on synthetic weights (info --model). */
export interface SessionMemoryReport {
  readonly model: string;
  readonly maxBatch: number;
  readonly inputSize: number;
  readonly threads: string;
  readonly fit: MemoryFit;
}

async function measureSession(model: string, maxBatch: number | undefined, inputSize: number | undefined, threads: number | undefined, container: ContainerInfo): Promise<SessionMemoryReport> {
  const session = await createSession({
    model: model as SessionOptions['model'],
    weights: 'synthetic',
    device: 'cpu',
    benchmark: false,
    ...(maxBatch === undefined ? {} : { maxBatch }),
    ...(inputSize === undefined ? {} : { inputSize }),
    ...(threads === undefined ? {} : { threads }),
  });
  try {
    const m = session.memory;
    const limit = { limit: container.memoryLimit, notes: container.memoryNotes };
    return {
      model: session.info.model,
      maxBatch: session.info.maxBatch,
      inputSize: session.info.inputShape[2],
      threads: describeThreads(session.threads),
      fit: memoryFit(limit, 1, { weightBytes: m.weightBytes, arenaBytes: m.arenaBytes, workspaceBytes: m.workspaceBytes }),
    };
  } finally {
    await session.dispose();
  }
}

export async function infoCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parse(
    'info',
    argv,
    { json: { type: 'boolean' }, model: { type: 'string', short: 'm' }, 'max-batch': { type: 'string' }, 'input-size': { type: 'string' }, threads: { type: 'string' }, ...COMMON_OPTIONS },
    false,
  );
  if (printedHelp(parsed, 'info', io)) return EXIT_OK;
  const info = await libraryInfo();
  const model = parsed.values.model;
  const session =
    typeof model === 'string'
      ? await measureSession(model, optionalInteger(parsed, 'max-batch', 'info'), optionalInteger(parsed, 'input-size', 'info'), optionalInteger(parsed, 'threads', 'info'), info.container)
      : undefined;
  if (parsed.values.json === true) io.stdout(`${JSON.stringify(session === undefined ? info : { ...info, session }, null, 2)}\n`);
  else io.stdout(formatInfo(info) + (session === undefined ? '' : formatSession(session)));
  return EXIT_OK;
}

/** The container lines: 'cpu: threads 1 (cgroup quota 1.0 CPU of 2)' and the memory limit. */
export function formatContainer(container: ContainerInfo): string[] {
  const lines = ['container:', `  cpu: ${describeThreads(container.cpuThreads)}`];
  if (container.cpuThreads.quota !== null) {
    const q = container.cpuThreads.quota;
    lines.push(`    quota ${q.quotaMicroseconds} us per ${q.periodMicroseconds} us period (${q.file})`);
  }
  for (const note of container.cpuThreads.notes) lines.push(`    note: ${note}`);
  lines.push(`  memory: ${describeMemoryLimit(container.memoryLimit, container.memoryNotes)}; machine ${formatBytes(container.totalMemoryBytes)}`);
  return lines;
}

export function formatSession(report: SessionMemoryReport): string {
  const { fit } = report;
  const total = formatBytes(fit.sessionsBytes);
  const verdict = fit.limit === null ? '' : fit.fits ? `; fits under the limit of ${formatBytes(fit.limit.bytes)}` : `; does NOT fit under the limit of ${formatBytes(fit.limit.bytes)}`;
  return (
    `session ${report.model} at max batch ${report.maxBatch}, input ${report.inputSize}x${report.inputSize} (cpu, ${report.threads}):\n` +
    `  holds ${describeSessionBytes(fit.perSession)} = ${total}${verdict}\n`
  );
}

export function formatInfo(info: LibraryInfo): string {
  const lines = [
    `inception-cudnn ${info.version}`,
    `node ${info.node}, sharp ${info.sharp} (libvips ${info.libvips})`,
    'models:',
    ...info.models.map(
      (m) => `  ${m.name.padEnd(20)} ${m.inputSize}x${m.inputSize} ${m.interpolation}, crop ${m.cropPct} -> ${m.output === 'logits' ? `${m.outputSize} logits` : `${m.outputSize}-d embedding`}`,
    ),
    'backends:',
  ];
  for (const b of info.backends) {
    const versions = Object.entries(b.versions).map(([k, v]) => `${k} ${v}`).join(', ');
    if (b.available) {
      lines.push(`  ${b.name}: available${versions ? ` (${versions})` : ''}`);
    } else {
      lines.push(`  ${b.name}: unavailable${versions ? ` (${versions})` : ''}`);
      if (b.reason) lines.push(...b.reason.split('\n').map((l) => `    ${l}`));
    }
    if (b.module !== undefined) lines.push(`    module: ${b.module}`);
    for (const d of b.devices) {
      const memory = d.memoryBytes === undefined ? '' : `, ${(d.memoryBytes / 2 ** 30).toFixed(1)} GiB`;
      lines.push(`    device ${b.name === 'cpu' ? 'cpu' : `cuda:${d.index}`}: ${d.name}${memory}`);
    }
  }
  lines.push(...formatContainer(info.container));
  return `${lines.join('\n')}\n`;
}

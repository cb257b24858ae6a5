/** `profile` (also `bench --profile`): per-layer CPU times, MACs, GFLOP/s, implementations and the measured peak. */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { formatProfile, profileCpu } from '../bench/profile';
import { getModel } from '../models/registry';
import { COMMON_OPTIONS, optionalInteger, parse, printedHelp, requireString } from './args';
import { checkDevice } from './bench-options';
import { EXIT_OK, type CliIo } from './io';

export async function profileCommand(argv: readonly string[], io: CliIo, command = 'profile'): Promise<number> {
  const parsed = parse(
    command,
    argv,
    {
      device: { type: 'string', short: 'd' },
      model: { type: 'string', short: 'm' },
      batch: { type: 'string', short: 'b' },
      threads: { type: 'string' },
      repeats: { type: 'string', short: 'n' },
      'input-size': { type: 'string' },
      top: { type: 'string' },
      json: { type: 'string' },
      ...COMMON_OPTIONS,
    },
    false,
  );
  if (printedHelp(parsed, 'profile', io)) return EXIT_OK;
  checkDevice(parsed, command);
  const model = getModel(requireString(parsed, 'model', command)).name;
  const batch = optionalInteger(parsed, 'batch', command) ?? 1;
  const threads = optionalInteger(parsed, 'threads', command) ?? os.availableParallelism();
  const repeats = optionalInteger(parsed, 'repeats', command) ?? 5;
  const inputSize = optionalInteger(parsed, 'input-size', command);
  const top = optionalInteger(parsed, 'top', command) ?? 25;
  io.stderr(`profiling ${model} batch ${batch} (${repeats} timed runs after a warm-up), then the fp32 peak...\n`);
  const report = await profileCpu({ model, batch, threads, repeats, ...(inputSize === undefined ? {} : { inputSize }) });
  io.stdout(formatProfile(report, top));
  const json = parsed.values.json;
  if (typeof json === 'string') {
    await mkdir(path.dirname(path.resolve(json)), { recursive: true });
    await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
    io.stderr(`wrote ${json}\n`);
  }
  return EXIT_OK;
}

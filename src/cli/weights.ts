/**
 * `weights list | pull | verify | path | rm | convert`: the known checkpoints and the cache.
 */
import { InceptionError } from '../errors';
import { isModelName } from '../models/registry';
import type { ModelName } from '../models/types';
import { cacheEntryStatus, cachedUrlTargets, removeCached } from '../weights/cache-inventory';
import { convertToSafetensors } from '../weights/convert';
import { KNOWN_TAGS, knownCheckpoints, tagsOf } from '../weights/known-checkpoints';
import { formatBytes } from '../weights/progress';
import { checkCachedFile, downloadTarget, pullWeights, type DownloadTarget } from '../weights/pull';
import { weightsCacheDir } from '../weights/weights-cache';
import { COMMON_OPTIONS, parse, printedHelp, type Parsed } from './args';
import { EXIT_FAILURE, EXIT_OK, UsageError, type CliIo } from './io';
import { cliProgress } from './session';

const SUBCOMMANDS = ['list', 'pull', 'verify', 'path', 'rm', 'convert'] as const;

const OPTIONS = {
  model: { type: 'string', short: 'm' },
  'weights-sha256': { type: 'string' },
  all: { type: 'boolean' },
  json: { type: 'boolean' },
  ...COMMON_OPTIONS,
} as const;

function optionalModel(parsed: Parsed): ModelName | undefined {
  const model = parsed.values.model;
  if (model === undefined) return undefined;
  if (typeof model !== 'string' || !isModelName(model)) throw new UsageError(`--model expects inception_v4, inception_resnet_v2 or inception_resnet_v1, got '${String(model)}'`, 'weights');
  return model;
}

/**
 * The download target a tag or URL of the command line names. An unknown tag, a local path, a
 * URL that is not https or a malformed --weights-sha256 is a bad command line (exit 2).
 */
function commandLineTarget(source: string, options: { model?: ModelName; sha256?: string }): DownloadTarget {
  try {
    return downloadTarget(source, options);
  } catch (error) {
    if (error instanceof InceptionError) throw new UsageError(error.message.replace(/^weights:? /, '').replace(/^sha256/, '--weights-sha256'), 'weights');
    throw error;
  }
}

/** Tags and URLs named on the command line ('pretrained' with --model), or every cached entry (and, for rm, partial downloads). */
async function targetsOf(sources: readonly string[], model: ModelName | undefined, withPartial: boolean): Promise<DownloadTarget[]> {
  if (sources.length > 0) return sources.map((source) => commandLineTarget(source, { model }));
  const targets: DownloadTarget[] = [];
  for (const tag of KNOWN_TAGS) {
    const target = downloadTarget(tag);
    const status = await cacheEntryStatus(target);
    if (status.bytes !== null || (withPartial && status.partialBytes !== null)) targets.push(target);
  }
  return [...targets, ...(await cachedUrlTargets())];
}

async function list(parsed: Parsed, io: CliIo): Promise<number> {
  const rows = [];
  for (const entry of knownCheckpoints()) {
    const target = downloadTarget(entry.tag);
    const status = await cacheEntryStatus(target);
    rows.push({ entry, target, status, pretrained: tagsOf(entry.model)[0] === entry.tag });
  }
  if (parsed.values.json === true) {
    const json = rows.map(({ entry, target, status, pretrained }) => ({
      tag: entry.tag, model: entry.model, pretrained, format: entry.format, origin: entry.origin, url: target.url, approxBytes: entry.approxBytes,
      sha256: entry.sha256, hashSource: entry.hashSource, recordedSha256: status.record?.sha256 ?? null,
      cached: status.cached, path: target.paths.file, partialBytes: status.partialBytes,
    }));
    io.stdout(`${JSON.stringify({ cacheDir: weightsCacheDir(), checkpoints: json, urls: (await cachedUrlTargets()).map((t) => ({ url: t.url, path: t.paths.file })) })}\n`);
    return EXIT_OK;
  }
  io.stdout(`cache: ${weightsCacheDir()} (INCEPTION_CACHE_DIR to move it); * = what --weights pretrained means for the model\n\n`);
  const table = rows.map(({ entry, status, pretrained }) => {
    const hash =
      entry.hashSource === 'pinned' ? `pinned ${entry.sha256!.slice(0, 12)}…`
        : entry.hashSource === 'hub-etag' ? 'hub X-Linked-Etag'
          : status.record !== null ? `recorded ${status.record.sha256.slice(0, 12)}…` : 'recorded on first download';
    const cached = status.cached ? `yes, ${formatBytes(status.bytes!)}` : status.partialBytes !== null ? `partial, ${formatBytes(status.partialBytes)}` : 'no';
    return [`${pretrained ? '*' : ' '} ${entry.tag}`, entry.model, entry.format, `~${formatBytes(entry.approxBytes)}`, hash, cached, entry.origin];
  });
  const header = ['  tag', 'model', 'format', 'size', 'sha256', 'cached', 'from'];
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
  for (const row of [header, ...table]) io.stdout(`${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}\n`);
  const urls = await cachedUrlTargets();
  if (urls.length > 0) {
    io.stdout('\ndownloaded by URL:\n');
    for (const t of urls) io.stdout(`  ${t.url}\n    ${t.paths.file}\n`);
  }
  return EXIT_OK;
}

async function pull(parsed: Parsed, sources: readonly string[], io: CliIo): Promise<number> {
  if (sources.length === 0) throw new UsageError("weights pull needs a tag, 'pretrained' (with --model) or a URL", 'weights');
  const sha = parsed.values['weights-sha256'];
  if (sha !== undefined && sources.length !== 1) throw new UsageError('--weights-sha256 applies to one tag or URL at a time', 'weights');
  const model = optionalModel(parsed);
  for (const source of sources) commandLineTarget(source, { model, ...(typeof sha === 'string' ? { sha256: sha } : {}) });
  const onProgress = cliProgress(io);
  for (const source of sources) {
    const pulled = await pullWeights(source, { model, ...(typeof sha === 'string' ? { sha256: sha } : {}), onProgress });
    if (pulled.fromCache) io.stderr(`${pulled.tag ?? pulled.url}: already in the cache, sha256 ${pulled.sha256} checked (${pulled.verifiedBy.join(', ')})\n`);
    io.stdout(`${pulled.path}\n`);
  }
  return EXIT_OK;
}

async function verify(parsed: Parsed, sources: readonly string[], io: CliIo): Promise<number> {
  const targets = await targetsOf(sources, optionalModel(parsed), false);
  if (targets.length === 0) {
    io.stderr(`nothing cached in ${weightsCacheDir()}\n`);
    return EXIT_OK;
  }
  let bad = 0;
  for (const target of targets) {
    const check = await checkCachedFile(target);
    if (check.state === 'ok') io.stdout(`ok       ${target.label}  sha256 ${check.record.sha256} (${check.record.verifiedBy.join(', ')})  ${target.paths.file}\n`);
    else if (check.state === 'missing') {
      bad++;
      io.stdout(`missing  ${target.label}  not in the cache: run 'inception-cudnn weights pull ${target.label}'\n`);
    } else {
      bad++;
      io.stdout(`BAD      ${target.label}  ${check.problem}; 'inception-cudnn weights rm ${target.label}' then pull it again  ${target.paths.file}\n`);
    }
  }
  return bad === 0 ? EXIT_OK : EXIT_FAILURE;
}

async function path(parsed: Parsed, sources: readonly string[], io: CliIo): Promise<number> {
  if (sources.length !== 1) throw new UsageError("weights path takes one tag, 'pretrained' (with --model) or URL", 'weights');
  const target = commandLineTarget(sources[0]!, { model: optionalModel(parsed) });
  const status = await cacheEntryStatus(target);
  if (!status.cached) {
    io.stderr(`error: ${target.label} is not in the cache (it would be ${target.paths.file}); run 'inception-cudnn weights pull ${target.label}'\n`);
    return EXIT_FAILURE;
  }
  io.stdout(`${target.paths.file}\n`);
  return EXIT_OK;
}

async function rm(parsed: Parsed, sources: readonly string[], io: CliIo): Promise<number> {
  if (sources.length === 0 && parsed.values.all !== true) throw new UsageError('weights rm needs tags or URLs, or --all for everything cached', 'weights');
  if (sources.length > 0 && parsed.values.all === true) throw new UsageError('weights rm takes tags or URLs, or --all, not both', 'weights');
  const targets = await targetsOf(sources, optionalModel(parsed), true);
  for (const target of targets) {
    const existed = await removeCached(target);
    io.stderr(existed ? `removed ${target.label} (${target.paths.file})\n` : `${target.label} was not cached\n`);
  }
  return EXIT_OK;
}

async function convert(parsed: Parsed, args: readonly string[], io: CliIo): Promise<number> {
  if (args.length !== 2) throw new UsageError('weights convert takes IN.pt OUT.safetensors', 'weights');
  const model = optionalModel(parsed);
  const [input, output] = args as [string, string];
  const result = await convertToSafetensors(input, output, model ?? null);
  io.stderr(`wrote ${output}: ${result.tensors} tensors, ${result.bytes} bytes (from a ${result.format === 'torch-zip' ? 'zip' : 'legacy'} torch.save file${model === undefined ? '' : `, checked against ${model}`})\n`);
  return EXIT_OK;
}

export async function weightsCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parse('weights', argv, OPTIONS, true);
  if (printedHelp(parsed, 'weights', io)) return EXIT_OK;
  const [sub, ...rest] = parsed.positionals;
  if (sub === undefined) throw new UsageError(`weights needs a subcommand: ${SUBCOMMANDS.join(', ')}`, 'weights');
  const allowed: Record<string, readonly string[]> = { list: ['json'], pull: ['model', 'weights-sha256'], verify: ['model'], path: ['model'], rm: ['model', 'all'], convert: ['model'] };
  if (!Object.hasOwn(allowed, sub)) throw new UsageError(`unknown weights subcommand '${sub}'; the subcommands are: ${SUBCOMMANDS.join(', ')}`, 'weights');
  const stray = Object.keys(parsed.values).filter((k) => k !== 'help' && k !== 'verbose' && parsed.values[k] !== undefined && !allowed[sub]!.includes(k));
  if (stray.length > 0) throw new UsageError(`weights ${sub} does not take --${stray[0]}`, 'weights');
  switch (sub) {
    case 'list':
      if (rest.length > 0) throw new UsageError('weights list takes no arguments', 'weights');
      return list(parsed, io);
    case 'pull':
      return pull(parsed, rest, io);
    case 'verify':
      return verify(parsed, rest, io);
    case 'path':
      return path(parsed, rest, io);
    case 'rm':
      return rm(parsed, rest, io);
    default:
      return convert(parsed, rest, io);
  }
}

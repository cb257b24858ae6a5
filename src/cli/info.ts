/** `info`: versions, models, backends and devices; never fails because a backend is missing. */
import { libraryInfo, type LibraryInfo } from '../info';
import { COMMON_OPTIONS, parse, printedHelp } from './args';
import { EXIT_OK, type CliIo } from './io';

export async function infoCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parse('info', argv, { json: { type: 'boolean' }, ...COMMON_OPTIONS }, false);
  if (printedHelp(parsed, 'info', io)) return EXIT_OK;
  const info = await libraryInfo();
  io.stdout(parsed.values.json === true ? `${JSON.stringify(info, null, 2)}\n` : formatInfo(info));
  return EXIT_OK;
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
  return `${lines.join('\n')}\n`;
}

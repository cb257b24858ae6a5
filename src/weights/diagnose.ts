/**
 * Hints for checkpoints that do not fit: which known network a file looks like, and a name
 * prefix (`module.`, `model.`) that every entry shares. Hints only: nothing is renamed.
 */
import type { ModelName } from '../models/types';

interface Signature {
  readonly model: string;
  /** Every one of these names is present. */
  readonly names: readonly string[];
  /** What to do with such a file. */
  readonly advice: string;
}

const SIGNATURES: readonly Signature[] = [
  {
    model: 'inception_v4',
    names: ['features.0.conv.weight', 'features.21.branch0.conv.weight', 'last_linear.weight'],
    advice: "load it with model 'inception_v4'",
  },
  {
    model: 'inception_resnet_v2',
    names: ['conv2d_1a.conv.weight', 'conv2d_7b.conv.weight', 'classif.weight'],
    advice: "load it with model 'inception_resnet_v2'",
  },
  {
    model: 'inception_resnet_v1',
    names: ['conv2d_1a.conv.weight', 'conv2d_4b.conv.weight', 'last_bn.weight'],
    advice: "load it with model 'inception_resnet_v1'",
  },
  {
    model: 'Inception-v3 (torchvision/timm)',
    names: ['Conv2d_1a_3x3.conv.weight', 'Mixed_7c.branch1x1.conv.weight'],
    advice: 'this package does not run Inception-v3',
  },
];

/** "It looks like an X checkpoint ..." when the names carry another model's signature, else null. */
export function describeLookalike(names: readonly string[], wanted: ModelName): string | null {
  const present = new Set(names);
  const stripped = stripSharedPrefix(names);
  const strippedSet = stripped === null ? null : new Set(stripped.names);
  for (const signature of SIGNATURES) {
    if (signature.model === wanted) continue;
    const direct = signature.names.every((n) => present.has(n));
    const viaPrefix = strippedSet !== null && signature.names.every((n) => strippedSet.has(n));
    if (direct || viaPrefix) {
      const where = direct ? '' : ` once the '${stripped?.prefix}' prefix is removed`;
      return `It looks like an ${signature.model} checkpoint, not ${wanted} (it has ${signature.names[0]}${where}): ${signature.advice}.`;
    }
  }
  return null;
}

/**
 * When every name starts with the same `<segment>.` and removing it would match expected names,
 * a hint saying so with a one-line conversion; else null.
 */
export function sharedPrefixHint(names: readonly string[], expected: ReadonlySet<string>): string | null {
  const stripped = stripSharedPrefix(names);
  if (stripped === null) return null;
  const matchesBefore = names.filter((n) => expected.has(n)).length;
  const matchesAfter = stripped.names.filter((n) => expected.has(n)).length;
  if (matchesAfter <= matchesBefore) return null;
  const p = stripped.prefix;
  return (
    `Every tensor name starts with '${p}' (e.g. saved from a wrapped model such as DataParallel); ` +
    `without it ${matchesAfter} names would match. Names are not rewritten here: re-save the file without the prefix, ` +
    `e.g. save_file({k[len('${p}'):]: v for k, v in load_file(path).items()}, out_path) with safetensors.torch.`
  );
}

function stripSharedPrefix(names: readonly string[]): { prefix: string; names: string[] } | null {
  if (names.length === 0) return null;
  const dot = names[0].indexOf('.');
  if (dot <= 0) return null;
  const prefix = names[0].slice(0, dot + 1);
  if (!names.every((n) => n.startsWith(prefix) && n.length > prefix.length)) return null;
  return { prefix, names: names.map((n) => n.slice(prefix.length)) };
}

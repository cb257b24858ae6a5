/**
 * ImageNet-1k class names in timm's class-index order: line i of data/imagenet_synsets.txt
 * (sorted WordNet IDs, byte-identical to timm's file) is output index i of both timm models;
 * its name is that synset's whole lemma string from data/imagenet_synset_to_lemma_1k.txt
 * (the 1000 matching lines of timm's imagenet_synset_to_lemma.txt). architectures.md §7.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PlanError } from '../errors';

export const IMAGENET_CLASSES = 1000;

/** Package root relative to this file: src/models under vitest, lib/models after tsc. */
export const DATA_DIR = path.join(__dirname, '..', '..', 'data');
const SYNSETS_FILE = 'imagenet_synsets.txt';
const LEMMAS_FILE = 'imagenet_synset_to_lemma_1k.txt';

let cached: readonly string[] | undefined;

function readLines(file: string): string[] {
  const full = path.join(DATA_DIR, file);
  let text: string;
  try {
    text = fs.readFileSync(full, 'utf8');
  } catch (cause) {
    throw new PlanError(`label file ${full} cannot be read (${(cause as Error).message}); reinstall the package`);
  }
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function corrupt(file: string, problem: string): PlanError {
  return new PlanError(`label file ${path.join(DATA_DIR, file)} is corrupt: ${problem}; reinstall the package`);
}

function loadImagenetLabels(): readonly string[] {
  const synsets = readLines(SYNSETS_FILE);
  if (synsets.length !== IMAGENET_CLASSES) throw corrupt(SYNSETS_FILE, `${synsets.length} lines instead of ${IMAGENET_CLASSES}`);
  const lemmas = new Map<string, string>();
  for (const [i, line] of readLines(LEMMAS_FILE).entries()) {
    const tab = line.indexOf('\t');
    if (tab <= 0) throw corrupt(LEMMAS_FILE, `line ${i + 1} has no '<wnid>\\t<lemmas>' form`);
    lemmas.set(line.slice(0, tab), line.slice(tab + 1));
  }
  return Object.freeze(
    synsets.map((wnid, i) => {
      const name = lemmas.get(wnid);
      if (name === undefined) throw corrupt(LEMMAS_FILE, `no lemma for synset ${wnid} (class ${i})`);
      return name;
    }),
  );
}

/** The 1000 human-readable class names; index i names logit i of inception_v4 / inception_resnet_v2. */
export function imagenetLabels(): readonly string[] {
  cached ??= loadImagenetLabels();
  return cached;
}

/** The WordNet ID of each class, in the same order. */
export function imagenetSynsets(): readonly string[] {
  return Object.freeze(readLines(SYNSETS_FILE));
}

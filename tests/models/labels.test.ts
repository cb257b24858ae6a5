import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { imagenetLabels, imagenetSynsets } from '../../src/models/labels';
import { SHARED_DIR, SHARED_SKIP_REASON } from './shared-fixtures';

describe('imagenetLabels', () => {
  const labels = imagenetLabels();

  it('has 1000 names with the documented examples (architectures.md §7)', () => {
    expect(labels).toHaveLength(1000);
    expect(labels[0]).toBe('tench, Tinca tinca');
    expect(labels[1]).toBe('goldfish, Carassius auratus');
    expect(labels[207]).toBe('golden retriever');
    expect(labels[281]).toBe('tabby, tabby cat');
    expect(labels[999]).toBe('toilet tissue, toilet paper, bathroom tissue');
    expect(imagenetSynsets()[207]).toBe('n02099601');
  });

  it.skipIf(Boolean(SHARED_SKIP_REASON))('matches timm’s full synset and lemma files in shared/data line for line', () => {
    const read = (file: string) => fs.readFileSync(path.join(SHARED_DIR, 'data', file), 'utf8').split('\n').filter((l) => l !== '');
    const synsets = read('imagenet_synsets.txt');
    const lemma = new Map(read('imagenet_synset_to_lemma.txt').map((l) => l.split('\t') as [string, string]));
    expect(imagenetSynsets()).toEqual(synsets);
    expect(labels).toEqual(synsets.map((wnid) => lemma.get(wnid)));
  });

  it('returns the same frozen array on every call', () => {
    expect(imagenetLabels()).toBe(labels);
    expect(Object.isFrozen(labels)).toBe(true);
  });
});

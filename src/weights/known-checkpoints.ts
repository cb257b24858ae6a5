/**
 * The released checkpoints this package knows by name, where they are published, and how each
 * download is verified. `weights: 'pretrained'` is a model's first tag here.
 *
 * sha256: the timm files' hashes are pinned (given in issue 15 for the hub's model.safetensors).
 * The hub also sends each LFS file's sha256 as X-Linked-Etag on its resolve redirect, which is
 * checked too, and is the only check for tf_ens_adv_in1k, whose hash is not pinned here.
 * facenet-pytorch publishes no hashes for its release files: the first download's sha256 is
 * recorded next to the cached file, and every later use is checked against that record
 * (trust on first use; `weights pull --weights-sha256 HEX` pins one you trust).
 *
 * INCEPTION_WEIGHTS_TABLE=<file.json> replaces fields of known tags, e.g.
 * `{"inception_v4.tf_in1k": {"sha256": "...", "url": "..."}}`: for a private mirror that serves
 * re-exported files, and for the test suite, which serves small files whose hashes it controls.
 * The CLI prints a notice whenever it is set.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, WeightsError } from '../errors';
import type { ModelName } from '../models/types';

export type CheckpointFormatName = 'safetensors' | 'pt';
/** How a download of this tag is verified. */
export type HashSource = 'pinned' | 'hub-etag' | 'first-download';

export interface KnownCheckpoint {
  readonly tag: string;
  readonly model: ModelName;
  /** Where it is published (the URL before HF_ENDPOINT / INCEPTION_WEIGHTS_MIRROR). */
  readonly url: string;
  /** 'huggingface' URLs follow HF_ENDPOINT. */
  readonly host: 'huggingface' | 'github-release';
  /** Human-readable origin, e.g. 'hub timm/inception_v4.tf_in1k'. */
  readonly origin: string;
  /** File name in the cache. */
  readonly fileName: string;
  readonly format: CheckpointFormatName;
  /** Size as published, for the listing (the download checks the server's exact size). */
  readonly approxBytes: number;
  readonly sha256: string | null;
  readonly hashSource: HashSource;
  readonly note: string;
}

const HUB = 'https://huggingface.co';
const FACENET_RELEASE = 'https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9';
const MB = 1_000_000;

export const KNOWN_CHECKPOINTS: readonly KnownCheckpoint[] = Object.freeze([
  {
    tag: 'inception_v4.tf_in1k',
    model: 'inception_v4',
    url: `${HUB}/timm/inception_v4.tf_in1k/resolve/main/model.safetensors`,
    host: 'huggingface',
    origin: 'hub timm/inception_v4.tf_in1k',
    fileName: 'model.safetensors',
    format: 'safetensors',
    approxBytes: 171 * MB,
    sha256: 'a756a086851c8d5a8de135ec15c76b90ea56cb5aef450e3299107e659e725bb1',
    hashSource: 'pinned',
    note: 'ImageNet-1k, TF-slim weights ported by timm',
  },
  {
    tag: 'inception_resnet_v2.tf_in1k',
    model: 'inception_resnet_v2',
    url: `${HUB}/timm/inception_resnet_v2.tf_in1k/resolve/main/model.safetensors`,
    host: 'huggingface',
    origin: 'hub timm/inception_resnet_v2.tf_in1k',
    fileName: 'model.safetensors',
    format: 'safetensors',
    approxBytes: 224 * MB,
    sha256: 'dbea26b13a5fc8351919fed6a94222c0577ce324b2765fd081a798f837ca9d72',
    hashSource: 'pinned',
    note: 'ImageNet-1k, TF-slim weights ported by timm',
  },
  {
    tag: 'inception_resnet_v2.tf_ens_adv_in1k',
    model: 'inception_resnet_v2',
    url: `${HUB}/timm/inception_resnet_v2.tf_ens_adv_in1k/resolve/main/model.safetensors`,
    host: 'huggingface',
    origin: 'hub timm/inception_resnet_v2.tf_ens_adv_in1k',
    fileName: 'model.safetensors',
    format: 'safetensors',
    approxBytes: 224 * MB,
    sha256: null,
    hashSource: 'hub-etag',
    note: 'ImageNet-1k, ensemble adversarial training',
  },
  {
    tag: 'inception_resnet_v1.vggface2',
    model: 'inception_resnet_v1',
    url: `${FACENET_RELEASE}/20180402-114759-vggface2.pt`,
    host: 'github-release',
    origin: 'GitHub release timesler/facenet-pytorch v2.2.9',
    fileName: '20180402-114759-vggface2.pt',
    format: 'pt',
    approxBytes: 107 * MB,
    sha256: null,
    hashSource: 'first-download',
    note: 'faces, VGGFace2 (logits: 8631 identities)',
  },
  {
    tag: 'inception_resnet_v1.casia_webface',
    model: 'inception_resnet_v1',
    url: `${FACENET_RELEASE}/20180408-102900-casia-webface.pt`,
    host: 'github-release',
    origin: 'GitHub release timesler/facenet-pytorch v2.2.9',
    fileName: '20180408-102900-casia-webface.pt',
    format: 'pt',
    approxBytes: 111 * MB,
    sha256: null,
    hashSource: 'first-download',
    note: 'faces, CASIA-WebFace (logits: 10575 identities)',
  },
] satisfies KnownCheckpoint[]);

export const KNOWN_TAGS: readonly string[] = KNOWN_CHECKPOINTS.map((c) => c.tag);

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A lower-case sha256 hex string, or an InvalidArgumentError naming `what`. */
export function parseSha256(value: unknown, what: string): string {
  if (typeof value === 'string' && SHA256_HEX.test(value.toLowerCase())) return value.toLowerCase();
  throw new InvalidArgumentError(`${what} must be a sha256 of 64 hex digits, got ${JSON.stringify(value)}`);
}

/**
 * The table in force: the built-in one with the fields of INCEPTION_WEIGHTS_TABLE applied.
 * Pure apart from reading that file.
 */
export function knownCheckpoints(env: NodeJS.ProcessEnv = process.env): readonly KnownCheckpoint[] {
  const overridePath = env.INCEPTION_WEIGHTS_TABLE;
  if (overridePath === undefined || overridePath === '') return KNOWN_CHECKPOINTS;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(overridePath, 'utf8'));
  } catch (cause) {
    throw new WeightsError(`INCEPTION_WEIGHTS_TABLE=${overridePath} cannot be read as JSON: ${(cause as Error).message}`, { cause });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new WeightsError(`INCEPTION_WEIGHTS_TABLE=${overridePath} must hold an object {"<tag>": {"sha256": ..., "url": ...}}`);
  }
  const overrides = json as Record<string, unknown>;
  for (const tag of Object.keys(overrides)) {
    if (!KNOWN_TAGS.includes(tag)) throw new WeightsError(`INCEPTION_WEIGHTS_TABLE=${overridePath} names '${tag}', which is not a known tag (${KNOWN_TAGS.join(', ')})`);
  }
  return KNOWN_CHECKPOINTS.map((entry) => {
    const override = overrides[entry.tag];
    if (override === undefined) return entry;
    if (typeof override !== 'object' || override === null) throw new WeightsError(`INCEPTION_WEIGHTS_TABLE: '${entry.tag}' must map to an object`);
    const fields = override as Record<string, unknown>;
    const extra = Object.keys(fields).filter((k) => k !== 'sha256' && k !== 'url');
    if (extra.length > 0) throw new WeightsError(`INCEPTION_WEIGHTS_TABLE: '${entry.tag}' has unknown field '${extra[0]}'; only sha256 and url can be replaced`);
    const sha256 = fields.sha256 === undefined ? entry.sha256 : fields.sha256 === null ? null : parseSha256(fields.sha256, `INCEPTION_WEIGHTS_TABLE '${entry.tag}'.sha256`);
    const url = fields.url === undefined ? entry.url : String(fields.url);
    const hashSource: HashSource = sha256 !== null ? 'pinned' : entry.host === 'huggingface' ? 'hub-etag' : 'first-download';
    return Object.freeze({ ...entry, sha256, url, hashSource });
  });
}

/** The entry of `tag`, or null. */
export function findKnownCheckpoint(tag: string, table: readonly KnownCheckpoint[] = KNOWN_CHECKPOINTS): KnownCheckpoint | null {
  return table.find((c) => c.tag === tag) ?? null;
}

/** The tags of `model`, its default ('pretrained') first. */
export function tagsOf(model: ModelName): string[] {
  return KNOWN_CHECKPOINTS.filter((c) => c.model === model).map((c) => c.tag);
}

/** What 'pretrained' means for `model`. */
export function pretrainedTag(model: ModelName): string {
  const tag = tagsOf(model)[0];
  if (tag === undefined) throw new WeightsError(`no pretrained checkpoint is known for ${model}`);
  return tag;
}

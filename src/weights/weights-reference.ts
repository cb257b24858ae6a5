/**
 * What a `weights` string names: 'pretrained' (the model's first known tag), a known tag, an
 * https:// URL (http:// only to this machine), or a local file. Known tags win over files of
 * the same name (write ./name for such a file).
 */
import { existsSync } from 'node:fs';
import { InvalidArgumentError } from '../errors';
import type { ModelName } from '../models/types';
import { checkDownloadUrl } from './download-url';
import { KNOWN_TAGS, findKnownCheckpoint, pretrainedTag, tagsOf } from './known-checkpoints';

export type WeightsReference =
  | { readonly kind: 'tag'; readonly tag: string }
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'path'; readonly path: string };

const URL_LIKE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
const TAG_LIKE = /^inception_[a-z0-9_]+\.[a-z0-9_]+$/;

/** Parses `value`; `model` (when known) must own the tag, and resolves 'pretrained'. */
export function parseWeightsReference(value: string, model: ModelName | null): WeightsReference {
  if (value === 'pretrained') {
    if (model === null) throw new InvalidArgumentError("'pretrained' needs a model to say which checkpoint (e.g. --model inception_v4)");
    return { kind: 'tag', tag: pretrainedTag(model) };
  }
  const known = findKnownCheckpoint(value);
  if (known !== null) {
    if (model !== null && known.model !== model) {
      throw new InvalidArgumentError(`weights '${value}' is a checkpoint of ${known.model}, not ${model}; the tags of ${model} are: ${tagsOf(model).join(', ')}`);
    }
    return { kind: 'tag', tag: value };
  }
  if (URL_LIKE.test(value)) return { kind: 'url', url: checkDownloadUrl(value, 'weights').href };
  if (TAG_LIKE.test(value) && !existsSync(value)) {
    throw new InvalidArgumentError(`weights '${value}' is neither a known tag nor an existing file; the known tags are: ${KNOWN_TAGS.join(', ')} ('inception-cudnn weights list' shows them)`);
  }
  return { kind: 'path', path: value };
}

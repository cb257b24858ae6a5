/**
 * Whether a session merges sibling 1x1 convs (merge-sibling-convs.ts): the backend's layout
 * policy decides (LayoutPolicy.mergeSiblingConvs, set where it was measured faster), unless the
 * environment variable INCEPTION_MERGE_SIBLING_CONVS says otherwise, an A/B switch for
 * measurements: '0' off, '1' on (branch heads), 'pieces' on including convs that feed a concat.
 */
import { InvalidArgumentError } from '../errors';
import type { LayoutPolicy } from '../plan/types';
import type { SiblingMergeOptions } from './merge-sibling-convs';

export const SIBLING_MERGE_ENV = 'INCEPTION_MERGE_SIBLING_CONVS';

export function resolveSiblingMerge(policy: LayoutPolicy, envValue: string | undefined): SiblingMergeOptions | undefined {
  const on: SiblingMergeOptions = { channelBlock: policy.channelBlock };
  if (envValue === undefined || envValue === '') return policy.mergeSiblingConvs === true ? on : undefined;
  switch (envValue) {
    case '0':
      return undefined;
    case '1':
      return on;
    case 'pieces':
      return { ...on, includeConcatPieces: true };
    default:
      throw new InvalidArgumentError(`Expected '0', '1' or 'pieces' for the environment variable ${SIBLING_MERGE_ENV} but received '${envValue}'; unset it to use the backend's default`);
  }
}

/**
 * The numbers shared with the native modules: the ABI version they must report and the op kind
 * table of native/core/plan.h (`enum class OpKind`). The native decoder (native/js/convert.cc)
 * reads the string ops of a Plan with this same table; keep the three in step.
 */
import type { PlanStep } from '../plan/types';

/** Bumped whenever the Plan object, the module exports or OpKind change incompatibly. */
export const ABI_VERSION = 2;

export type OpName = PlanStep['op'];

/** op string -> OpKind value in native/core/plan.h. */
export const OP_KIND: Readonly<Record<OpName, number>> = Object.freeze({
  conv2d: 0,
  maxpool2d: 1,
  avgpool2d: 2,
  globalavgpool: 3,
  linear: 4,
  affine: 5,
  relu: 6,
  residual_add: 7,
  concat: 8,
  l2norm: 9,
  softmax: 10,
});

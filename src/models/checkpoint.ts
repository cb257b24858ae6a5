/**
 * The checkpoint entry list of a model, derived from its graph: every parameter the graph
 * references, in the graph's param order (= state_dict order), with its kind, plus the int64
 * `num_batches_tracked` scalar that PyTorch stores after each BatchNorm's running_var.
 *
 * Kinds follow the module that owns the entry (fixtures README, "Kinds and state_dict
 * entries"). In these three networks the only convs with a bias are the residual 1x1
 * up-projections, so a biased conv's weight is a `residual_conv_weight`; every Linear is the
 * network's final linear layer.
 */
import { PlanError } from '../errors';
import type { Graph } from '../graph/ir';
import type { CheckpointEntry, EntryKind } from './types';

const BN_WEIGHT_SUFFIX = '.weight';

export function checkpointEntries(g: Graph): CheckpointEntry[] {
  const kinds = new Map<string, EntryKind>();
  /** running_var name -> the num_batches_tracked entry that follows it. */
  const batchesTracked = new Map<string, string>();
  for (const node of g.nodes) {
    if (node.op === 'conv2d') {
      kinds.set(node.weight, node.bias === null ? 'conv_weight' : 'residual_conv_weight');
      if (node.bias !== null) kinds.set(node.bias, 'conv_bias');
    } else if (node.op === 'linear') {
      kinds.set(node.weight, 'final_linear_weight');
      if (node.bias !== null) kinds.set(node.bias, 'linear_bias');
    } else if (node.op === 'batchnorm') {
      if (!node.weight.endsWith(BN_WEIGHT_SUFFIX)) {
        throw new PlanError(`${node.name}: BatchNorm weight '${node.weight}' does not end in '${BN_WEIGHT_SUFFIX}'; cannot name its num_batches_tracked entry`);
      }
      kinds.set(node.weight, 'bn_weight');
      kinds.set(node.bias, 'bn_bias');
      kinds.set(node.runningMean, 'bn_running_mean');
      kinds.set(node.runningVar, 'bn_running_var');
      batchesTracked.set(node.runningVar, `${node.weight.slice(0, -BN_WEIGHT_SUFFIX.length)}.num_batches_tracked`);
    }
  }

  const entries: CheckpointEntry[] = [];
  for (const param of g.params) {
    const kind = kinds.get(param.name);
    if (kind === undefined) throw new PlanError(`parameter '${param.name}' is referenced by no conv, linear or batchnorm node`);
    entries.push({ name: param.name, shape: [...param.shape], kind, dtype: 'F32' });
    const tracked = batchesTracked.get(param.name);
    if (tracked !== undefined) entries.push({ name: tracked, shape: [], kind: 'bn_num_batches_tracked', dtype: 'I64' });
  }
  return entries;
}

/**
 * Merges 1x1 convolutions that read the same tensor into one convolution whose output channels
 * are theirs, concatenated in graph order; each former conv becomes a channel_slice of the merged
 * output (a view in the plan, no step). Weight rows and bias entries are concatenated unchanged,
 * so every slice is bit-for-bit the value of the conv it replaces.
 *
 * Who merges. A conv joins the group of its input tensor x when it is 1x1, stride 1, pad 0, has
 * no residual side input (nothing merges across a residual), and its relu flag equals the group's
 * (the activation is fused into the conv and applies to every channel). Groups are per (x, relu).
 * By default a conv whose output is a concat input is left alone: as a producer it writes
 * straight into its concat slice (storage.ts concat views), while a slice of the merged buffer
 * would turn that whole concat into a copy step (`includeConcatPieces` merges them anyway).
 *
 * The average-pool branch. `conv1x1(avgpool(x))`, for an average pool (any window and stride) that
 * excludes padding from its divisor (countIncludePad false, or no padding) equals
 * `avgpool(conv1x1(x))`, bias included: each output is a mean over a window of in-image
 * positions, whose weights sum to 1, and a 1x1 conv is a per-position affine map. An activation
 * does not commute with the mean, so a conv with relu becomes conv (no relu) -> avgpool -> relu.
 * A pool-branch conv therefore joins the relu = false group of x, and is moved only when that
 * group has another member (moving alone gains nothing and adds a relu step). After BN folding
 * the pool-branch convs of Inception-v4 and Inception-ResNet-v2 carry relu, while their sibling
 * heads also carry relu: they sit in different groups, and merging them would need a per-channel
 * activation (relu on the heads' channels only), which the IR and the backends do not have.
 *
 * Alignment. With a blocked layout (channelBlock > 1) a slice must start at a multiple of the
 * block and span a multiple of it unless it is the last one (storage.ts). Members whose channel
 * count is a multiple of the block come first (graph order), then at most one other; the rest
 * stay unmerged.
 */
import { PlanError } from '../errors';
import type { ChannelSliceNode, Conv2dNode, Graph, Node, Pool2dNode, TensorSpec, WeightStore } from '../graph/ir';
import { type NewParam, producers, readCounts, rebuild, requireWeight } from './graph-edit';

export interface SiblingMergeOptions {
  /** The backend layout's channel block (LayoutPolicy.channelBlock): slice offsets are multiples of it. */
  readonly channelBlock: number;
  /** Also merge convs whose output is read by a concat (default false; see the file comment). */
  readonly includeConcatPieces?: boolean;
}

interface Member {
  readonly conv: Conv2dNode;
  /** The average pool the conv read, for a conv moved before its pool; null for a direct head. */
  readonly pool: Pool2dNode | null;
}

interface Group {
  readonly source: number;
  readonly relu: boolean;
  readonly members: Member[];
}

const isPointwise = (conv: Conv2dNode): boolean =>
  conv.kernel[0] === 1 && conv.kernel[1] === 1 && conv.stride[0] === 1 && conv.stride[1] === 1 && conv.pad[0] === 0 && conv.pad[1] === 0 && conv.residualScale === null;

/** Whether an avgpool's mean commutes with a 1x1 conv: its divisor counts only in-image elements. */
const poolCommutes = (pool: Node | undefined): pool is Pool2dNode =>
  pool?.op === 'avgpool2d' && (!pool.countIncludePad || (pool.pad[0] === 0 && pool.pad[1] === 0));

function outChannels(graph: Graph, node: Node): number {
  return graph.tensors[node.output]!.shape[1]!;
}

function collectGroups(graph: Graph, options: SiblingMergeOptions): Group[] {
  const reads = readCounts(graph);
  const producerOf = producers(graph);
  const concatInputs = new Set(graph.nodes.flatMap((n) => (n.op === 'concat' ? n.inputs : [])));
  const groups = new Map<string, Group>();
  const join = (source: number, relu: boolean, member: Member): void => {
    const key = `${source}:${relu}`;
    let group = groups.get(key);
    if (group === undefined) groups.set(key, (group = { source, relu, members: [] }));
    group.members.push(member);
  };
  for (const node of graph.nodes) {
    if (node.op !== 'conv2d' || !isPointwise(node) || graph.tensors[node.inputs[0]!]!.shape.length !== 4) continue;
    if (node.output === graph.output) continue;
    const input = node.inputs[0]!;
    const pool = producerOf.get(input);
    if (poolCommutes(pool) && reads.get(input) === 1) {
      join(pool.inputs[0]!, false, { conv: node, pool });
      continue;
    }
    if (!options.includeConcatPieces && concatInputs.has(node.output)) continue;
    join(input, node.relu, { conv: node, pool: null });
  }
  const block = options.channelBlock;
  const result: Group[] = [];
  for (const group of groups.values()) {
    const aligned = group.members.filter((m) => outChannels(graph, m.conv) % block === 0);
    const tail = group.members.find((m) => outChannels(graph, m.conv) % block !== 0);
    const members = tail === undefined ? aligned : [...aligned, tail];
    const direct = members.filter((m) => m.pool === null).length;
    // Two members at least, and at least one direct head: two pool convs alone would need their pools merged too.
    if (members.length >= 2 && direct >= 1) result.push({ ...group, members });
  }
  return result;
}

function concatRows(graph: Graph, weights: WeightStore, group: Group): { weight: Float32Array; bias: Float32Array | null } {
  const total = group.members.reduce((s, m) => s + outChannels(graph, m.conv), 0);
  const inner = graph.tensors[group.source]!.shape[1]!;
  const weight = new Float32Array(total * inner);
  const anyBias = group.members.some((m) => m.conv.bias !== null);
  const bias = anyBias ? new Float32Array(total) : null;
  let row = 0;
  for (const { conv } of group.members) {
    const rows = outChannels(graph, conv);
    const w = requireWeight(weights, conv.weight, conv);
    if (w.length !== rows * inner) throw new PlanError(`conv '${conv.name}' has ${w.length} weights; a 1x1 conv from ${inner} to ${rows} channels needs ${rows * inner}`);
    weight.set(w, row * inner);
    if (bias !== null && conv.bias !== null) bias.set(requireWeight(weights, conv.bias, conv), row);
    row += rows;
  }
  return { weight, bias };
}

export function mergeSiblingConvs(graph: Graph, weights: WeightStore, options: SiblingMergeOptions): { graph: Graph; weights: WeightStore } {
  if (!Number.isInteger(options.channelBlock) || options.channelBlock < 1) {
    throw new PlanError(`mergeSiblingConvs channelBlock must be a positive integer, got ${options.channelBlock}`);
  }
  const groups = collectGroups(graph, options);
  if (groups.length === 0) return { graph, weights };

  const tensors: TensorSpec[] = [...graph.tensors];
  const newTensor = (shape: readonly number[]): number => {
    tensors.push({ id: tensors.length, shape });
    return tensors.length - 1;
  };
  const added: NewParam[] = [];
  /** Node name -> the nodes that take its place (empty: removed). */
  const replacements = new Map<string, Node[]>();
  /** Node name -> the group's merged conv and slices, which go just before it (the group's earliest node). */
  const insertBefore = new Map<string, Node[]>();
  const position = new Map(graph.nodes.map((n, i) => [n.name, i]));

  for (const group of groups) {
    const [n, c, h, w] = graph.tensors[group.source]!.shape as [number, number, number, number];
    const first = group.members[0]!.conv;
    const name = `${first.name}:merged`;
    const { weight, bias } = concatRows(graph, weights, group);
    const total = weight.length / c;
    const weightName = `${name}.weight`;
    added.push({ spec: { name: weightName, shape: [total, c, 1, 1] }, value: weight, replaces: first.weight });
    let biasName: string | null = null;
    if (bias !== null) {
      biasName = `${name}.bias`;
      added.push({ spec: { name: biasName, shape: [total] }, value: bias, replaces: first.bias ?? first.weight });
    }
    const merged = newTensor([n, total, h, w]);
    const head: Node[] = [{ ...first, name, inputs: [group.source], output: merged, weight: weightName, bias: biasName, relu: group.relu }];
    let start = 0;
    let earliest = Infinity;
    let anchor = '';
    for (const { conv, pool } of group.members) {
      const channels = outChannels(graph, conv);
      const slice = (output: number): ChannelSliceNode => ({ op: 'channel_slice', name: `${conv.name}:slice`, inputs: [merged], output, start, channels });
      if (pool === null) {
        head.push(slice(conv.output));
        replacements.set(conv.name, []);
      } else {
        // conv1x1(avgpool(x)) -> avgpool(slice of conv1x1(x)), relu after the pool.
        const sliced = newTensor([n, channels, h, w]);
        head.push(slice(sliced));
        const [, , ph, pw] = graph.tensors[pool.output]!.shape as [number, number, number, number];
        const pooledOut = conv.relu ? newTensor([n, channels, ph, pw]) : conv.output;
        replacements.set(pool.name, [{ ...pool, inputs: [sliced], output: pooledOut }]);
        replacements.set(conv.name, conv.relu ? [{ op: 'relu', name: `${conv.name}:relu`, inputs: [pooledOut], output: conv.output }] : []);
      }
      const at = position.get(pool?.name ?? conv.name)!;
      if (at < earliest) {
        earliest = at;
        anchor = pool?.name ?? conv.name;
      }
      start += channels;
    }
    insertBefore.set(anchor, head);
  }

  const nodes: Node[] = [];
  for (const node of graph.nodes) {
    nodes.push(...(insertBefore.get(node.name) ?? []));
    nodes.push(...(replacements.get(node.name) ?? [node]));
  }
  return rebuild({ ...graph, tensors }, weights, nodes, added);
}

/**
 * Decides which arena buffer (and which channel slice of it) holds each tensor. Two rules, kept
 * deliberately simple:
 *
 * Concat views. With `policy.concatViews`, a concat is eliminated (no step) and each piece is
 * written by its producer straight into its channel slice of the concat's buffer, when EVERY
 * piece is eligible and starts at a channel offset that is a multiple of `policy.channelBlock`.
 * A piece is eligible when it is produced by a node that is not a concat and not a residual conv,
 * appears exactly once among all concat inputs of the graph, is not the graph input or output,
 * and is not the residual input of a conv (in-place accumulation would overwrite the slice).
 * Otherwise the whole concat falls back to one `concat` copy step into its own buffer.
 *
 * Channel slices. A channel_slice (made by the sibling-conv merge) is always a view: its tensor
 * lives in its input's buffer at the input's channel offset plus the slice start, and it has no
 * step. The backend reads it through a strided / sub-memory view, so with a blocked layout the
 * slice must start at a multiple of `policy.channelBlock` and either span a multiple of it or
 * end at the buffer's last channel; the merge pass orders its slices so (it is told the block),
 * and a slice that breaks the rule is a PlanError here rather than a silent copy. A slice is never
 * a concat-view piece (it cannot move into the concat's buffer), so such a concat is a copy step.
 *
 * Residual in place. A conv with a residual input r writes its output into r's buffer (the
 * backend accumulates in place), when nothing reads that buffer after the conv (no later reader
 * of any tensor held in it), r is a whole buffer, the buffer holds neither the graph input nor
 * the graph output, and the conv's main input is not in it. Otherwise the conv's output gets a
 * fresh buffer and the lowering emits a copy of r into it (a one-input `concat` step) just before
 * the conv, which then accumulates in place there.
 */
import { PlanError } from '../errors';
import type { Graph, Node } from '../graph/ir';
import type { LayoutPolicy } from './types';

/** Where a tensor lives: the tensor that owns the buffer, and the channel slice start. */
export interface Home {
  readonly root: number;
  readonly channelOffset: number;
}

export interface StorageDecision {
  readonly homes: ReadonlyMap<number, Home>;
  /** Names of concat nodes that are views (no step). */
  readonly viewConcats: ReadonlySet<string>;
  /** Names of residual convs whose residual input must be copied into a fresh output buffer first. */
  readonly residualCopies: ReadonlySet<string>;
}

export type Dims = readonly [n: number, c: number, h: number, w: number];

const isResidualConv = (node: Node | undefined): boolean => node?.op === 'conv2d' && node.residualScale !== null;

function chooseViewConcats(graph: Graph, dims: ReadonlyMap<number, Dims>, policy: LayoutPolicy): Set<string> {
  const views = new Set<string>();
  if (!policy.concatViews) return views;
  const producerOf = new Map(graph.nodes.map((n) => [n.output, n]));
  const concatUses = new Map<number, number>();
  const residualInputs = new Set<number>();
  for (const node of graph.nodes) {
    if (node.op === 'concat') for (const p of node.inputs) concatUses.set(p, (concatUses.get(p) ?? 0) + 1);
    if (isResidualConv(node)) residualInputs.add(node.inputs[1]!);
  }
  const eligible = (p: number): boolean => {
    const producer = producerOf.get(p);
    return (
      producer !== undefined &&
      producer.op !== 'concat' &&
      producer.op !== 'channel_slice' &&
      !isResidualConv(producer) &&
      concatUses.get(p) === 1 &&
      p !== graph.input &&
      p !== graph.output &&
      !residualInputs.has(p)
    );
  };
  for (const node of graph.nodes) {
    if (node.op !== 'concat') continue;
    let offset = 0;
    let ok = true;
    for (const p of node.inputs) {
      if (!eligible(p) || offset % policy.channelBlock !== 0) ok = false;
      offset += dims.get(p)![1];
    }
    if (ok) views.add(node.name);
  }
  return views;
}

export function assignStorage(graph: Graph, dims: ReadonlyMap<number, Dims>, policy: LayoutPolicy): StorageDecision {
  const viewConcats = chooseViewConcats(graph, dims, policy);
  const homes = new Map<number, Home>();
  const members = new Map<number, number[]>();
  const setHome = (t: number, root: number, channelOffset: number): void => {
    homes.set(t, { root, channelOffset });
    members.set(root, [...(members.get(root) ?? []), t]);
  };
  setHome(graph.input, graph.input, 0);
  for (const node of graph.nodes) if (!homes.has(node.output) && node.op !== 'channel_slice') setHome(node.output, node.output, 0);
  for (const node of graph.nodes) {
    if (!viewConcats.has(node.name)) continue;
    let offset = 0;
    for (const p of node.inputs) {
      const old = homes.get(p)!.root;
      members.delete(old);
      setHome(p, node.output, offset);
      offset += dims.get(p)![1];
    }
  }

  for (const node of graph.nodes) {
    if (node.op !== 'channel_slice') continue;
    const source = homes.get(node.inputs[0]!);
    if (source === undefined) throw new PlanError(`channel_slice '${node.name}' reads tensor ${node.inputs[0]} that no node produces`);
    const channelOffset = source.channelOffset + node.start;
    const bufferChannels = dims.get(source.root)![1];
    if (!policy.concatViews) {
      throw new PlanError(`channel_slice '${node.name}' needs a channel view, but this backend's layout policy does not allow views (concatViews false); run optimize without mergeSiblingConvs`);
    }
    const block = policy.channelBlock;
    if (channelOffset % block !== 0 || (node.channels % block !== 0 && channelOffset + node.channels !== bufferChannels)) {
      throw new PlanError(
        `channel_slice '${node.name}' is channels [${channelOffset}, ${channelOffset + node.channels}) of a ${bufferChannels}-channel buffer; ` +
          `the layout's channel block is ${block}, so a view must start at a multiple of ${block} and span a multiple of it or end at the last channel (merge with channelBlock ${block})`,
      );
    }
    setHome(node.output, source.root, channelOffset);
  }

  // Node indices that really read each tensor (an eliminated concat reads nothing).
  const readers = new Map<number, number[]>();
  graph.nodes.forEach((node, i) => {
    if (viewConcats.has(node.name) || node.op === 'channel_slice') return;
    for (const t of node.inputs) readers.set(t, [...(readers.get(t) ?? []), i]);
  });

  const residualCopies = new Set<string>();
  graph.nodes.forEach((node, i) => {
    if (node.op !== 'conv2d' || node.residualScale === null) return;
    const [x, r] = node.inputs as [number, number];
    const home = homes.get(r);
    if (home === undefined) throw new PlanError(`conv '${node.name}' reads residual tensor ${r} that no node produces`);
    const group = members.get(home.root) ?? [];
    const [rn, rc, rh, rw] = dims.get(r)!;
    const [on, oc, oh, ow] = dims.get(node.output)!;
    if (rn !== on || rc !== oc || rh !== oh || rw !== ow) {
      throw new PlanError(`conv '${node.name}' output [${on},${oc},${oh},${ow}] differs from its residual input [${rn},${rc},${rh},${rw}]`);
    }
    const wholeBuffer = home.channelOffset === 0 && dims.get(home.root)![1] === rc;
    const readLater = group.some((t) => (readers.get(t) ?? []).some((j) => j > i));
    const special = group.includes(graph.input) || group.includes(graph.output) || group.includes(x);
    if (wholeBuffer && !readLater && !special) {
      members.delete(node.output);
      setHome(node.output, home.root, 0);
    } else {
      residualCopies.add(node.name);
    }
  });
  return { homes, viewConcats, residualCopies };
}

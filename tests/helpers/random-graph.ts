/**
 * Seeded random small graphs in the shape of the Inception networks: CBR chains, parallel
 * branches with pools, concat, reductions, scaled residual blocks (fused relu flag or a
 * separate relu node), linear heads with BatchNorm1d, l2norm or softmax. Also the awkward
 * cases the lowering must get right: a concat piece that is the block input, a tensor feeding
 * two concats, a residual input that is still used afterwards, convs with two consumers,
 * channel counts that are not multiples of 8, and (unoptimised) convs that already carry a
 * residual side input with a non-unit scale.
 *
 * `randomGraph(seed)` is deterministic; `arbitraryGraph()` wraps it for fast-check.
 */
import fc from 'fast-check';
import type { Graph, Node, Pair, ParamSpec, TensorSpec, WeightStore } from '../../src/graph/ir';

/** mulberry32: a tiny deterministic PRNG. */
export function makeRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rand {
  constructor(readonly next: () => number) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  /** A channel count: half the time a multiple of 8, otherwise anything in 1..12. */
  channels(): number {
    return this.bool() ? 8 * this.int(1, 2) : this.int(1, 12);
  }
}

/** A minimal graph builder with shape inference, independent of src/graph (tests must not share its bugs). */
export class TestGraphBuilder {
  readonly tensors: TensorSpec[] = [];
  readonly nodes: Node[] = [];
  readonly params: ParamSpec[] = [];
  private count = 0;

  tensor(shape: readonly number[]): number {
    const id = this.tensors.length;
    this.tensors.push({ id, shape: [...shape] });
    return id;
  }
  shape(id: number): readonly number[] {
    return this.tensors[id]!.shape;
  }
  private name(kind: string): string {
    return `n${this.count++}.${kind}`;
  }
  private param(name: string, shape: readonly number[]): string {
    this.params.push({ name, shape: [...shape] });
    return name;
  }

  conv(x: number, out: number, kernel: Pair, stride: Pair, pad: Pair, opts: { bias?: boolean; relu?: boolean } = {}): number {
    const [n, c, h, w] = this.shape(x) as [number, number, number, number];
    const oh = Math.floor((h + 2 * pad[0] - kernel[0]) / stride[0]) + 1;
    const ow = Math.floor((w + 2 * pad[1] - kernel[1]) / stride[1]) + 1;
    const name = this.name('conv');
    const weight = this.param(`${name}.weight`, [out, c, kernel[0], kernel[1]]);
    const bias = opts.bias === true ? this.param(`${name}.bias`, [out]) : null;
    const output = this.tensor([n, out, oh, ow]);
    this.nodes.push({ op: 'conv2d', name, inputs: [x], output, weight, bias, kernel, stride, pad, relu: opts.relu ?? false, residualScale: null });
    return output;
  }
  /** A conv that already carries the residual side input (as the IR allows before optimisation). */
  residualConv(x: number, residual: number, scale: number, relu: boolean): number {
    const [n, c, h, w] = this.shape(x) as [number, number, number, number];
    const out = this.shape(residual)[1]!;
    const name = this.name('resconv');
    const weight = this.param(`${name}.weight`, [out, c, 1, 1]);
    const bias = this.param(`${name}.bias`, [out]);
    const output = this.tensor([n, out, h, w]);
    this.nodes.push({ op: 'conv2d', name, inputs: [x, residual], output, weight, bias, kernel: [1, 1], stride: [1, 1], pad: [0, 0], relu, residualScale: scale });
    return output;
  }
  batchnorm(x: number, relu: boolean): number {
    const c = this.shape(x)[1]!;
    const name = this.name('bn');
    const output = this.tensor(this.shape(x));
    this.nodes.push({
      op: 'batchnorm',
      name,
      inputs: [x],
      output,
      weight: this.param(`${name}.weight`, [c]),
      bias: this.param(`${name}.bias`, [c]),
      runningMean: this.param(`${name}.running_mean`, [c]),
      runningVar: this.param(`${name}.running_var`, [c]),
      eps: 0.001,
      relu,
    });
    return output;
  }
  /** conv (no bias) -> batchnorm(relu): the CBR unit of the three networks. */
  cbr(x: number, out: number, kernel: Pair, stride: Pair = [1, 1], pad: Pair = [0, 0]): number {
    return this.batchnorm(this.conv(x, out, kernel, stride, pad), true);
  }
  relu(x: number): number {
    const output = this.tensor(this.shape(x));
    this.nodes.push({ op: 'relu', name: this.name('relu'), inputs: [x], output });
    return output;
  }
  pool(x: number, kind: 'max' | 'avg', kernel: Pair, stride: Pair, pad: Pair, countIncludePad = false): number {
    const [n, c, h, w] = this.shape(x) as [number, number, number, number];
    const oh = Math.floor((h + 2 * pad[0] - kernel[0]) / stride[0]) + 1;
    const ow = Math.floor((w + 2 * pad[1] - kernel[1]) / stride[1]) + 1;
    const output = this.tensor([n, c, oh, ow]);
    const op = kind === 'max' ? 'maxpool2d' : 'avgpool2d';
    this.nodes.push({ op, name: this.name(op), inputs: [x], output, kernel, stride, pad, countIncludePad });
    return output;
  }
  concat(pieces: readonly number[]): number {
    const first = this.shape(pieces[0]!);
    const c = pieces.reduce((s, p) => s + this.shape(p)[1]!, 0);
    const shape = [...first];
    shape[1] = c;
    const output = this.tensor(shape);
    this.nodes.push({ op: 'concat', name: this.name('concat'), inputs: [...pieces], output });
    return output;
  }
  residualAdd(x: number, h: number, scale: number, relu: boolean): number {
    const output = this.tensor(this.shape(x));
    this.nodes.push({ op: 'residual_add', name: this.name('residual'), inputs: [x, h], output, scale, relu });
    return output;
  }
  globalAvgPool(x: number): number {
    const [n, c] = this.shape(x) as [number, number];
    const output = this.tensor([n, c]);
    this.nodes.push({ op: 'globalavgpool', name: this.name('gap'), inputs: [x], output });
    return output;
  }
  linear(x: number, out: number, opts: { bias?: boolean; relu?: boolean } = {}): number {
    const [n, f] = this.shape(x) as [number, number];
    const name = this.name('linear');
    const weight = this.param(`${name}.weight`, [out, f]);
    const bias = opts.bias === false ? null : this.param(`${name}.bias`, [out]);
    const output = this.tensor([n, out]);
    this.nodes.push({ op: 'linear', name, inputs: [x], output, weight, bias, relu: opts.relu ?? false });
    return output;
  }
  l2norm(x: number): number {
    const output = this.tensor(this.shape(x));
    this.nodes.push({ op: 'l2norm', name: this.name('l2norm'), inputs: [x], output, eps: 1e-10 });
    return output;
  }
  softmax(x: number): number {
    const output = this.tensor(this.shape(x));
    this.nodes.push({ op: 'softmax', name: this.name('softmax'), inputs: [x], output });
    return output;
  }
  finish(input: number, output: number): Graph {
    return { tensors: this.tensors, nodes: this.nodes, input, output, params: this.params };
  }
}

type Block = (b: TestGraphBuilder, r: Rand, x: number) => number;

/** One branch of an inception block at stride 1 (keeps H and W). */
function branch(b: TestGraphBuilder, r: Rand, x: number): number {
  switch (r.int(0, 4)) {
    case 0:
      return b.cbr(x, r.channels(), [1, 1]);
    case 1:
      return b.cbr(b.cbr(x, r.channels(), [1, 1]), r.channels(), [3, 3], [1, 1], [1, 1]);
    case 2:
      return b.cbr(b.cbr(x, r.channels(), [1, 3], [1, 1], [0, 1]), r.channels(), [3, 1], [1, 1], [1, 0]);
    case 3:
      return b.cbr(b.pool(x, 'avg', [3, 3], [1, 1], [1, 1], false), r.channels(), [1, 1]);
    default:
      return b.pool(x, 'max', [3, 3], [1, 1], [1, 1]);
  }
}

const inceptionBlock: Block = (b, r, x) => {
  const pieces = Array.from({ length: r.int(2, 4) }, () => branch(b, r, x));
  // Rarely the block input itself is a piece (no producer to redirect: concat must copy it).
  if (r.bool(0.15)) pieces.splice(r.int(0, pieces.length), 0, x);
  return b.concat(pieces);
};

const reductionBlock: Block = (b, r, x) => {
  const pieces = [b.pool(x, 'max', [3, 3], [2, 2], [0, 0]), b.cbr(x, r.channels(), [3, 3], [2, 2])];
  if (r.bool()) pieces.push(b.cbr(b.cbr(x, r.channels(), [1, 1]), r.channels(), [3, 3], [2, 2]));
  return b.concat(pieces);
};

/** y = act(x + s * (up(concat(branches)) + b)), as Block35/17/8 (relu flag or a separate relu node). */
const residualBlock: Block = (b, r, x) => {
  const c = b.shape(x)[1]!;
  const pieces = Array.from({ length: r.int(1, 3) }, () => branch(b, r, x));
  const mixed = pieces.length === 1 ? pieces[0]! : b.concat(pieces);
  const scale = r.pick([1, 0.17, 0.1, 0.2]);
  if (r.bool(0.15)) {
    // Already-fused form: the conv carries the residual with a non-unit scale.
    return b.residualConv(mixed, x, scale, r.bool());
  }
  const up = b.conv(mixed, c, [1, 1], [1, 1], [0, 0], { bias: true });
  const style = r.int(0, 2);
  const y = b.residualAdd(x, up, scale, style === 0);
  return style === 1 ? b.relu(y) : y;
};

/** Plain conv chains: conv+bias then BN, BN on a conv with two consumers, relu nodes. */
const plainBlock: Block = (b, r, x) => {
  switch (r.int(0, 2)) {
    case 0:
      return b.batchnorm(b.conv(x, r.channels(), [3, 3], [1, 1], [1, 1], { bias: true }), r.bool());
    case 1: {
      // The conv output is read twice: BN must not be folded into it.
      const h = b.conv(x, r.channels(), [1, 1], [1, 1], [0, 0]);
      return b.concat([b.batchnorm(h, true), h]);
    }
    default:
      return b.relu(b.conv(x, r.channels(), [1, 1], [1, 1], [0, 0], { bias: r.bool() }));
  }
};

/** The residual input x is still read after the residual: the planner must copy, not alias. */
const residualThenReuse: Block = (b, r, x) => {
  const y = residualBlock(b, r, x);
  return b.concat([y, b.cbr(x, r.channels(), [1, 1])]);
};

/** One tensor feeds two concats. */
const sharedPiece: Block = (b, r, x) => {
  const shared = b.cbr(x, r.channels(), [1, 1]);
  const a = b.concat([shared, b.cbr(x, r.channels(), [1, 1])]);
  const c = b.concat([b.pool(x, 'max', [3, 3], [1, 1], [1, 1]), shared]);
  return b.residualAdd(a, b.conv(c, b.shape(a)[1]!, [1, 1], [1, 1], [0, 0], { bias: true }), 0.5, true);
};

function head(b: TestGraphBuilder, r: Rand, x: number): number {
  let v = b.globalAvgPool(x);
  switch (r.int(0, 3)) {
    case 0:
      return b.linear(v, r.int(2, 10));
    case 1: // facenet: linear (no bias) -> BatchNorm1d -> l2norm
      v = b.batchnorm(b.linear(v, r.int(2, 10), { bias: false }), false);
      return r.bool() ? b.l2norm(v) : b.linear(v, r.int(2, 6));
    case 2:
      return b.softmax(b.linear(b.relu(b.linear(v, r.int(2, 10))), r.int(2, 6)));
    default:
      return b.linear(b.batchnorm(b.linear(v, r.int(2, 10), { relu: false }), true), r.int(2, 6), { relu: r.bool() });
  }
}

export interface RandomGraphOptions {
  /** Largest batch (default 3). */
  readonly maxBatch?: number;
}

export function randomGraph(seed: number, options: RandomGraphOptions = {}): Graph {
  const r = new Rand(makeRng(seed));
  const b = new TestGraphBuilder();
  const n = r.int(1, options.maxBatch ?? 3);
  const input = b.tensor([n, r.int(1, 3), r.int(7, 11), r.int(7, 11)]);
  let x = b.cbr(input, r.channels(), [3, 3], [1, 1], [1, 1]);
  const blocks: Block[] = [inceptionBlock, reductionBlock, residualBlock, plainBlock, residualThenReuse, sharedPiece];
  const count = r.int(1, 4);
  let reductions = 0;
  for (let i = 0; i < count; i++) {
    let block = r.pick(blocks);
    if (block === reductionBlock && (reductions > 0 || b.shape(x)[2]! < 5)) block = inceptionBlock;
    if (block === reductionBlock) reductions++;
    x = block(b, r, x);
  }
  return b.finish(input, head(b, r, x));
}

/** Random values for every parameter, seeded: He-like conv/linear weights, BN stats away from zero variance. */
export function randomWeights(graph: Graph, seed: number): Map<string, Float32Array> {
  const rand = makeRng(seed ^ 0x5bd1e995);
  const store = new Map<string, Float32Array>();
  for (const p of graph.params) {
    const size = p.shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(size);
    const fanIn = p.shape.length > 1 ? size / p.shape[0]! : 1;
    const bound = Math.sqrt(3 / fanIn);
    // The range depends on the parameter only: decided once, not per value (the networks have
    // tens of millions of values; the same draws in the same order as a per-value decision).
    const [lo, hi] = p.name.endsWith('running_var')
      ? [0.3, 1.5]
      : p.name.endsWith('running_mean')
        ? [-0.5, 0.5]
        : p.name.includes('.bn') && p.name.endsWith('.weight')
          ? [0.5, 1.5]
          : p.shape.length === 1
            ? [-0.3, 0.3]
            : [-bound, bound];
    for (let i = 0; i < size; i++) v[i] = lo + (hi - lo) * rand();
    store.set(p.name, v);
  }
  return store;
}

export function randomInput(graph: Graph, seed: number, n?: number): Float32Array {
  const shape = graph.tensors.find((t) => t.id === graph.input)!.shape;
  const size = (n ?? shape[0]!) * shape.slice(1).reduce((a, b) => a * b, 1);
  const rand = makeRng(seed ^ 0x1234567);
  return Float32Array.from({ length: size }, () => rand() * 2 - 1);
}

/** fast-check arbitrary of (graph, weights, input) triples, from one seed. */
export function arbitraryGraph(options: RandomGraphOptions = {}): fc.Arbitrary<{ seed: number; graph: Graph; weights: WeightStore; input: Float32Array }> {
  return fc.integer({ min: 0, max: 0x7fffffff }).map((seed) => {
    const graph = randomGraph(seed, options);
    return { seed, graph, weights: randomWeights(graph, seed), input: randomInput(graph, seed) };
  });
}

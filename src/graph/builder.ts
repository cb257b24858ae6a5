/**
 * GraphBuilder: appends nodes in execution order, inferring every output shape as it goes,
 * and records each referenced parameter (name and shape) in first-reference order, which the
 * model definitions arrange to be the checkpoint's state_dict order.
 *
 * The IR it builds is unfused (conv, batchnorm, relu and residual adds are separate nodes);
 * fusion belongs to the passes in src/optimize/.
 */
import { InvalidInputError, PlanError } from '../errors';
import type {
  BatchNormNode,
  ConcatNode,
  Conv2dNode,
  GlobalAvgPoolNode,
  Graph,
  L2NormNode,
  LinearNode,
  Node,
  Pair,
  ParamSpec,
  Pool2dNode,
  ReluNode,
  ResidualAddNode,
  SoftmaxNode,
  TensorSpec,
} from './ir';
import { formatShape, inferShape, type Shape } from './shapes';

/** A kernel/stride/pad size: one number for both dimensions, or [h, w]. */
export type Size2 = number | Pair;

export function toPair(size: Size2): Pair {
  return typeof size === 'number' ? [size, size] : [size[0], size[1]];
}

export interface Conv2dSpec {
  readonly weight: string;
  readonly bias: string | null;
  readonly outChannels: number;
  readonly kernel: Size2;
  readonly stride?: Size2;
  readonly pad?: Size2;
  readonly relu?: boolean;
  /** Fused residual side input: y = act(residual + scale * (conv + bias)). */
  readonly residual?: { readonly tensor: number; readonly scale: number };
}

export interface BatchNormSpec {
  readonly weight: string;
  readonly bias: string;
  readonly runningMean: string;
  readonly runningVar: string;
  readonly eps: number;
  readonly relu: boolean;
}

export interface LinearSpec {
  readonly weight: string;
  readonly bias: string | null;
  readonly outFeatures: number;
  readonly relu?: boolean;
}

/** BN eps of all three networks (conv BNs and facenet's last_bn). */
export const INCEPTION_BN_EPS = 1e-3;

type WithoutOutput<T extends Node> = Omit<T, 'output'>;

export class GraphBuilder {
  /** Tensor id of the graph input. */
  readonly input: number;
  private readonly tensors: TensorSpec[] = [];
  private readonly nodes: Node[] = [];
  private readonly nodeNames = new Set<string>();
  private readonly params = new Map<string, Shape>();

  /** `inputShape` is [N,C,H,W] (or [N,F]); every dimension a positive integer. */
  constructor(inputShape: readonly number[]) {
    if (inputShape.length < 2 || !inputShape.every((d) => Number.isInteger(d) && d >= 1)) {
      throw new InvalidInputError(
        `Graph input shape ${formatShape(inputShape)} is invalid: expected [N,C,H,W] with positive integer dimensions`,
      );
    }
    this.input = this.newTensor(inputShape);
  }

  shapeOf(tensor: number): readonly number[] {
    const spec = this.tensors[tensor];
    if (spec === undefined) throw new PlanError(`tensor ${tensor} does not exist in this graph (0..${this.tensors.length - 1})`);
    return spec.shape;
  }

  /** Conv2d, cross-correlation, OIHW weight of shape [outChannels, C_in, kh, kw]. */
  conv2d(name: string, x: number, spec: Conv2dSpec): number {
    const kernel = toPair(spec.kernel);
    const inChannels = this.shapeOf(x)[1] ?? 0;
    const params: ParamSpec[] = [{ name: spec.weight, shape: [spec.outChannels, inChannels, kernel[0], kernel[1]] }];
    if (spec.bias !== null) params.push({ name: spec.bias, shape: [spec.outChannels] });
    return this.add<Conv2dNode>(params, {
      op: 'conv2d',
      name,
      inputs: spec.residual === undefined ? [x] : [x, spec.residual.tensor],
      weight: spec.weight,
      bias: spec.bias,
      kernel,
      stride: toPair(spec.stride ?? 1),
      pad: toPair(spec.pad ?? 0),
      relu: spec.relu ?? false,
      residualScale: spec.residual === undefined ? null : spec.residual.scale,
    });
  }

  /** Inference batch norm over dim 1 of [N,C,H,W] or [N,F]. */
  batchnorm(name: string, x: number, spec: BatchNormSpec): number {
    const shape = [this.shapeOf(x)[1] ?? 0];
    const params = [spec.weight, spec.bias, spec.runningMean, spec.runningVar].map((param) => ({ name: param, shape }));
    return this.add<BatchNormNode>(params, { op: 'batchnorm', name, inputs: [x], ...spec });
  }

  relu(name: string, x: number): number {
    return this.add<ReluNode>([], { op: 'relu', name, inputs: [x] });
  }

  maxpool(name: string, x: number, kernel: Size2, stride: Size2, pad: Size2 = 0): number {
    return this.pool('maxpool2d', name, x, kernel, stride, pad, false);
  }

  /** Average pool; `countIncludePad` false divides border windows by their in-image element count. */
  avgpool(name: string, x: number, kernel: Size2, stride: Size2, pad: Size2 = 0, countIncludePad = false): number {
    return this.pool('avgpool2d', name, x, kernel, stride, pad, countIncludePad);
  }

  /** [N,C,H,W] -> [N,C] (adaptive average to 1x1, then flatten). */
  globalAvgPool(name: string, x: number): number {
    return this.add<GlobalAvgPoolNode>([], { op: 'globalavgpool', name, inputs: [x] });
  }

  /** Channel concatenation, inputs in order. */
  concat(name: string, xs: readonly number[]): number {
    return this.add<ConcatNode>([], { op: 'concat', name, inputs: [...xs] });
  }

  /** y = act(x + scale * h). */
  residualAdd(name: string, x: number, h: number, scale: number, relu: boolean): number {
    return this.add<ResidualAddNode>([], { op: 'residual_add', name, inputs: [x, h], scale, relu });
  }

  /** [N,in] -> [N,outFeatures]; weight [outFeatures, in]. */
  linear(name: string, x: number, spec: LinearSpec): number {
    const inFeatures = this.shapeOf(x)[1] ?? 0;
    const params: ParamSpec[] = [{ name: spec.weight, shape: [spec.outFeatures, inFeatures] }];
    if (spec.bias !== null) params.push({ name: spec.bias, shape: [spec.outFeatures] });
    return this.add<LinearNode>(params, {
      op: 'linear',
      name,
      inputs: [x],
      weight: spec.weight,
      bias: spec.bias,
      relu: spec.relu ?? false,
    });
  }

  /** y = x / max(||x||_2, eps) per row. */
  l2norm(name: string, x: number, eps: number): number {
    return this.add<L2NormNode>([], { op: 'l2norm', name, inputs: [x], eps });
  }

  softmax(name: string, x: number): number {
    return this.add<SoftmaxNode>([], { op: 'softmax', name, inputs: [x] });
  }

  /**
   * Conv (no bias) -> BatchNorm (eps 1e-3) -> ReLU, the CBR unit of all three networks, as two
   * nodes `${prefix}.conv` and `${prefix}.bn` (ReLU flag on the BN) with params
   * `${prefix}.conv.weight` and `${prefix}.bn.{weight,bias,running_mean,running_var}`.
   */
  cbr(prefix: string, x: number, outChannels: number, kernel: Size2, stride: Size2 = 1, pad: Size2 = 0): number {
    const conv = this.conv2d(`${prefix}.conv`, x, {
      weight: `${prefix}.conv.weight`,
      bias: null,
      outChannels,
      kernel,
      stride,
      pad,
    });
    return this.batchnorm(`${prefix}.bn`, conv, {
      weight: `${prefix}.bn.weight`,
      bias: `${prefix}.bn.bias`,
      runningMean: `${prefix}.bn.running_mean`,
      runningVar: `${prefix}.bn.running_var`,
      eps: INCEPTION_BN_EPS,
      relu: true,
    });
  }

  /** The residual up-projection: 1x1 conv with bias `${prefix}.weight` / `${prefix}.bias`, no BN, no ReLU. */
  upConv(prefix: string, x: number, outChannels: number): number {
    return this.conv2d(prefix, x, { weight: `${prefix}.weight`, bias: `${prefix}.bias`, outChannels, kernel: 1 });
  }

  /** BatchNorm1d named `prefix` with params `${prefix}.{weight,bias,running_mean,running_var}`, no ReLU. */
  batchnorm1d(prefix: string, x: number, eps: number): number {
    return this.batchnorm(prefix, x, {
      weight: `${prefix}.weight`,
      bias: `${prefix}.bias`,
      runningMean: `${prefix}.running_mean`,
      runningVar: `${prefix}.running_var`,
      eps,
      relu: false,
    });
  }

  /** The finished graph with `output` as its result. The builder may keep growing afterwards. */
  build(output: number): Graph {
    this.shapeOf(output);
    const params: ParamSpec[] = [...this.params].map(([name, shape]) => ({ name, shape }));
    return { tensors: [...this.tensors], nodes: [...this.nodes], input: this.input, output, params };
  }

  private pool(
    op: Pool2dNode['op'],
    name: string,
    x: number,
    kernel: Size2,
    stride: Size2,
    pad: Size2,
    countIncludePad: boolean,
  ): number {
    return this.add<Pool2dNode>([], {
      op,
      name,
      inputs: [x],
      kernel: toPair(kernel),
      stride: toPair(stride),
      pad: toPair(pad),
      countIncludePad,
    });
  }

  /** Params of the node being added that are not declared yet; throws on a shape conflict. */
  private newParams(node: string, params: readonly ParamSpec[]): Map<string, Shape> {
    const fresh = new Map<string, Shape>();
    for (const { name, shape } of params) {
      const known = this.params.get(name) ?? fresh.get(name);
      if (known === undefined) {
        fresh.set(name, [...shape]);
      } else if (known.length !== shape.length || known.some((d, i) => d !== shape[i])) {
        throw new PlanError(
          `${node}: parameter '${name}' is already declared with shape ${formatShape(known)}, now used as ${formatShape(shape)}`,
        );
      }
    }
    return fresh;
  }

  /** Appends a node after checking its name, params and shape; nothing changes when it throws. */
  private add<T extends Node>(params: readonly ParamSpec[], partial: WithoutOutput<T>): number {
    const { name, inputs } = partial;
    if (this.nodeNames.has(name)) throw new PlanError(`node name '${name}' is used twice; node names must be unique`);
    const inputShapes = inputs.map((t) => this.shapeOf(t));
    const fresh = this.newParams(name, params);
    const output = this.tensors.length;
    const node = { ...partial, output } as unknown as Node;
    const result = inferShape(node, inputShapes, (param) => this.params.get(param) ?? fresh.get(param));
    if (!result.ok) {
      if (result.tooSmall) {
        const input = this.shapeOf(this.input);
        throw new InvalidInputError(
          `Input ${input.slice(2).join('x')} is too small: at layer ${name}, ${result.problem}; use a larger input height/width`,
        );
      }
      throw new PlanError(`${name}: ${result.problem}`);
    }
    for (const [param, shape] of fresh) this.params.set(param, shape);
    this.newTensor(result.shape);
    this.nodes.push(node);
    this.nodeNames.add(name);
    return output;
  }

  private newTensor(shape: readonly number[]): number {
    const id = this.tensors.length;
    this.tensors.push({ id, shape: [...shape] });
    return id;
  }
}

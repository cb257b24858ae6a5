/**
 * ONNX export: walks a Graph (the IR) node by node and writes an ONNX model (opset 13..17,
 * default 17) with a dynamic batch dimension `N`, input `input` [N,3,H,W] float32 and one output
 * (`logits` or `embedding` for the registry's models). Parameters become initializers under the
 * graph's own names, so an unoptimised graph carries the checkpoint's state_dict names.
 *
 * `fold: false` exports the checkpoint's own graph (Conv, BatchNormalization, Relu, pools, Concat,
 * Mul+Add residuals, Gemm, the L2 norm); `fold: true` exports our optimised graph: batch norms
 * folded into the convs, scaled residual additions folded into the conv weights (Conv + Add +
 * Relu is what ONNX can express of our fused step).
 */
import type { onnx } from 'onnx-proto';
import { InvalidArgumentError, PlanError } from '../errors';
import type { Graph, Node, WeightStore } from '../graph/ir';
import { packageVersion } from '../info';
import type { ModelDefinition } from '../models/types';
import { optimize } from '../optimize';
import { type Attr, encodeModel, floatAttr, floatTensor, floatValueInfo, intAttr, intsAttr, node } from './proto';

export const DEFAULT_OPSET = 17;
export const ONNX_INPUT_NAME = 'input';

export interface ExportOnnxOptions {
  /** true: our optimised graph (BN folded, residuals fused); false: the checkpoint's graph. */
  readonly fold: boolean;
  /** Default opset version 17; 13 to 17 are accepted (ReduceL2 keeps `axes` as an attribute there). */
  readonly opset?: number;
  /** Input H and W: a number (square) or [h, w]; default the model's input size. Batch stays dynamic. */
  readonly inputSize?: number | readonly [number, number];
}

export interface ExportGraphOptions {
  readonly opset?: number;
  /** Name of the graph output (default 'output'). */
  readonly outputName?: string;
  readonly graphName?: string;
  readonly docString?: string;
}

function checkOpset(opset: unknown): number {
  if (opset === undefined) return DEFAULT_OPSET;
  if (typeof opset !== 'number' || !Number.isInteger(opset) || opset < 13 || opset > 17) {
    throw new InvalidArgumentError(`Expected an integer between 13 and 17 for opset but received ${String(opset)}; 17 is the default`);
  }
  return opset;
}

function inputDims(model: ModelDefinition, size: ExportOnnxOptions['inputSize']): [number, number] {
  const [h, w] = size === undefined ? [model.preprocessing.inputSize, model.preprocessing.inputSize] : typeof size === 'number' ? [size, size] : size;
  for (const v of [h, w]) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < model.minSize) {
      throw new InvalidArgumentError(`Expected an integer of at least ${model.minSize} for ${model.name}'s inputSize but received ${String(v)}`);
    }
  }
  return [h, w];
}

/** Exports one of the registry's models with `weights` (a full, checked state_dict). */
export function exportOnnx(model: ModelDefinition, weights: WeightStore, options: ExportOnnxOptions): Uint8Array {
  if (typeof options !== 'object' || options === null || typeof options.fold !== 'boolean') {
    throw new InvalidArgumentError('Expected options { fold: boolean, opset?, inputSize? } for exportOnnx');
  }
  const opset = checkOpset(options.opset);
  const [height, width] = inputDims(model, options.inputSize);
  const graph = model.build({ batch: 1, height, width });
  const state = options.fold ? optimize(graph, weights) : { graph, weights };
  return exportGraphOnnx(state.graph, state.weights, {
    opset,
    outputName: model.output,
    graphName: model.name,
    docString: `${model.name} ${height}x${width}, ${options.fold ? 'folded (inception-cudnn optimised graph)' : 'unfolded (checkpoint graph)'}`,
  });
}

/** Exports any Graph; its batch dimension becomes the symbolic `N`. */
export function exportGraphOnnx(graph: Graph, weights: WeightStore, options: ExportGraphOptions = {}): Uint8Array {
  const opset = checkOpset(options.opset);
  const outputName = options.outputName ?? 'output';
  const writer = new GraphWriter(graph, outputName);
  for (const n of graph.nodes) writer.add(n);

  const initializers: onnx.ITensorProto[] = graph.params.map((p) => {
    const values = weights.get(p.name);
    if (values === undefined) throw new InvalidArgumentError(`the graph needs parameter '${p.name}' but the weights do not have it`);
    return floatTensor(p.name, p.shape, values);
  });
  initializers.push(...writer.constants);

  const spec = (id: number): readonly number[] => {
    const t = graph.tensors[id];
    if (t === undefined) throw new PlanError(`graph tensor ${id} does not exist`);
    return t.shape;
  };
  const symbolic = (shape: readonly number[]): (number | string)[] => ['N', ...shape.slice(1)];
  return encodeModel({
    graphName: options.graphName ?? 'inception',
    nodes: writer.nodes,
    initializers,
    inputs: [floatValueInfo(ONNX_INPUT_NAME, symbolic(spec(graph.input)))],
    outputs: [floatValueInfo(outputName, symbolic(spec(graph.output)))],
    opset,
    producerVersion: packageVersion(),
    docString: options.docString ?? '',
  });
}

/** Turns IR nodes into ONNX nodes, naming each IR tensor after the node that produces it. */
class GraphWriter {
  readonly nodes: onnx.INodeProto[] = [];
  readonly constants: onnx.ITensorProto[] = [];
  private readonly names = new Map<number, string>();
  private readonly scalars = new Map<string, string>();

  constructor(
    private readonly graph: Graph,
    private readonly outputName: string,
  ) {
    this.names.set(graph.input, ONNX_INPUT_NAME);
  }

  private nameOf(id: number, reader: string): string {
    const name = this.names.get(id);
    if (name === undefined) throw new PlanError(`node '${reader}' reads tensor ${id} before any node writes it (the graph is not in topological order)`);
    return name;
  }

  /** A float scalar initializer (shared by value). */
  private scalar(value: number): string {
    const key = String(Math.fround(value));
    let name = this.scalars.get(key);
    if (name === undefined) {
      name = `const:${key}`;
      this.scalars.set(key, name);
      this.constants.push(floatTensor(name, [], Float32Array.of(value)));
    }
    return name;
  }

  /** Emits a chain of ops ending in the IR node's output tensor name. */
  private chain(n: Node, first: { op: string; inputs: string[]; attrs?: Attr[] }, then: { op: string; extra?: string[]; attrs?: Attr[] }[]): void {
    const out = n.output === this.graph.output ? this.outputName : n.name;
    const stages = [first, ...then.map((t) => ({ op: t.op, inputs: t.extra ?? [], attrs: t.attrs }))];
    let previous = '';
    stages.forEach((stage, i) => {
      const last = i === stages.length - 1;
      const target = last ? out : `${n.name}/${stage.op.toLowerCase()}${i === 0 ? '' : i}`;
      const inputs = i === 0 ? stage.inputs : stageInputs(stage.op, previous, stage.inputs);
      this.nodes.push(node(stage.op, i === 0 ? n.name : `${n.name}/${stage.op}`, inputs, [target], stage.attrs ?? []));
      previous = target;
    });
    this.names.set(n.output, out);
  }

  add(n: Node): void {
    const ins = n.inputs.map((id) => this.nameOf(id, n.name));
    const relu = (on: boolean): { op: string }[] => (on ? [{ op: 'Relu' }] : []);
    switch (n.op) {
      case 'conv2d': {
        const attrs = [
          intsAttr('kernel_shape', n.kernel),
          intsAttr('strides', n.stride),
          intsAttr('pads', [n.pad[0], n.pad[1], n.pad[0], n.pad[1]]),
          intsAttr('dilations', [1, 1]),
          intAttr('group', 1),
        ];
        const convInputs = [ins[0]!, n.weight, ...(n.bias === null ? [] : [n.bias])];
        const residual: { op: string; extra?: string[] }[] = [];
        if (n.residualScale !== null) {
          if (n.residualScale !== 1) residual.push({ op: 'Mul', extra: [this.scalar(n.residualScale)] });
          residual.push({ op: 'Add', extra: [ins[1]!] });
        }
        this.chain(n, { op: 'Conv', inputs: convInputs, attrs }, [...residual, ...relu(n.relu)]);
        return;
      }
      case 'batchnorm':
        this.chain(n, { op: 'BatchNormalization', inputs: [ins[0]!, n.weight, n.bias, n.runningMean, n.runningVar], attrs: [floatAttr('epsilon', n.eps)] }, relu(n.relu));
        return;
      case 'relu':
        this.chain(n, { op: 'Relu', inputs: [ins[0]!] }, []);
        return;
      case 'maxpool2d':
      case 'avgpool2d': {
        const attrs = [intsAttr('kernel_shape', n.kernel), intsAttr('strides', n.stride), intsAttr('pads', [n.pad[0], n.pad[1], n.pad[0], n.pad[1]])];
        if (n.op === 'avgpool2d') attrs.push(intAttr('count_include_pad', n.countIncludePad ? 1 : 0));
        this.chain(n, { op: n.op === 'maxpool2d' ? 'MaxPool' : 'AveragePool', inputs: [ins[0]!], attrs }, []);
        return;
      }
      case 'globalavgpool':
        this.chain(n, { op: 'GlobalAveragePool', inputs: [ins[0]!] }, [{ op: 'Flatten', attrs: [intAttr('axis', 1)] }]);
        return;
      case 'concat':
        this.chain(n, { op: 'Concat', inputs: ins, attrs: [intAttr('axis', 1)] }, []);
        return;
      case 'channel_slice':
        // Only the sibling-conv merge makes slices, and the exporter never runs it (optimize without options).
        throw new PlanError(`node '${n.name}' is a channel_slice (from the sibling-conv merge); export the graph without mergeSiblingConvs`);
      case 'residual_add': {
        // y = act(x + s*h): Mul(h, s), then Add(x, ·).
        let h = ins[1]!;
        if (n.scale !== 1) {
          const scaled = `${n.name}/scaled`;
          this.nodes.push(node('Mul', `${n.name}/Mul`, [h, this.scalar(n.scale)], [scaled]));
          h = scaled;
        }
        this.chain(n, { op: 'Add', inputs: [ins[0]!, h] }, relu(n.relu));
        return;
      }
      case 'linear':
        this.chain(
          n,
          { op: 'Gemm', inputs: [ins[0]!, n.weight, ...(n.bias === null ? [] : [n.bias])], attrs: [intAttr('transB', 1), floatAttr('alpha', 1), floatAttr('beta', 1)] },
          relu(n.relu),
        );
        return;
      case 'l2norm': {
        // x / max(||x||_2, eps): LpNormalization has no eps, so ReduceL2 + Max + Div.
        const norm = `${n.name}/norm`;
        const clamped = `${n.name}/clamped`;
        this.nodes.push(node('ReduceL2', `${n.name}/ReduceL2`, [ins[0]!], [norm], [intsAttr('axes', [1]), intAttr('keepdims', 1)]));
        this.nodes.push(node('Max', `${n.name}/Max`, [norm, this.scalar(n.eps)], [clamped]));
        this.chain(n, { op: 'Div', inputs: [ins[0]!, clamped] }, []);
        return;
      }
      case 'softmax':
        this.chain(n, { op: 'Softmax', inputs: [ins[0]!], attrs: [intAttr('axis', 1)] }, []);
        return;
    }
  }
}

/** The previous stage's output comes first, except for a residual Add, which reads (x, branch) as the IR writes x + s*h. */
function stageInputs(op: string, previous: string, extra: readonly string[]): string[] {
  return op === 'Add' ? [extra[0]!, previous] : [previous, ...extra];
}

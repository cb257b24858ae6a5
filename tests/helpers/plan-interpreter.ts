/**
 * Executes a Plan in TypeScript on a simulated arena, to catch lowering bugs numerically.
 *
 * Layout: PLAIN (policy channelBlock 1, elementBytes 4). Buffer b is [N, Cbuf, H, W] row-major
 * float32 starting at byte `offset`; image i of it starts at offset + i*Cbuf*H*W*4 for any run
 * batch n <= plan.batch; a tensor is the channel slice [channelOffset, channelOffset + c).
 * Every read and write goes through ONE shared ArrayBuffer at the planned offsets, which starts
 * filled with NaN: a buffer overlapping a live one, a wrong view, or a read of never-written
 * memory corrupts the result instead of passing silently. Each step reads all its inputs before
 * writing its output (a real kernel could not rely on more).
 */
import type { Plan, PlanStep, PlanTensor } from '../../src/plan/types';
import { convOutputSize, convPlanes } from './conv-planes';

class Arena {
  readonly f32: Float32Array;
  constructor(private readonly plan: Plan) {
    if (plan.arenaBytes % 4 !== 0) throw new Error(`interpreter: arenaBytes ${plan.arenaBytes} is not a multiple of 4`);
    this.f32 = new Float32Array(new ArrayBuffer(plan.arenaBytes)).fill(NaN);
    for (const [i, b] of plan.buffers.entries()) {
      const plain = b.n * b.c * b.h * b.w * 4;
      if (b.bytes !== plain) throw new Error(`interpreter: buffer ${i} has ${b.bytes} bytes; the plain layout (channelBlock 1, fp32) needs ${plain}`);
      if (b.offset % 4 !== 0 || b.offset + b.bytes > plan.arenaBytes) throw new Error(`interpreter: buffer ${i} at ${b.offset} (+${b.bytes}) lies outside the ${plan.arenaBytes}-byte arena`);
    }
  }

  /** Float index of element (image, channel, y, x) of plan tensor t. */
  index(t: PlanTensor, image: number, channel: number, y: number, x: number): number {
    const b = this.plan.buffers[t.buffer]!;
    return b.offset / 4 + ((image * b.c + t.channelOffset + channel) * b.h + y) * b.w + x;
  }

  /** Reads tensor t for images [0, n) as a dense float64 [n, c, h, w]. */
  read(t: PlanTensor, n: number): Float64Array {
    const out = new Float64Array(n * t.c * t.h * t.w);
    let k = 0;
    for (let i = 0; i < n; i++)
      for (let ch = 0; ch < t.c; ch++)
        for (let y = 0; y < t.h; y++) for (let x = 0; x < t.w; x++) out[k++] = this.f32[this.index(t, i, ch, y, x)]!;
    return out;
  }

  write(t: PlanTensor, n: number, values: Float64Array): void {
    let k = 0;
    for (let i = 0; i < n; i++)
      for (let ch = 0; ch < t.c; ch++)
        for (let y = 0; y < t.h; y++) for (let x = 0; x < t.w; x++) this.f32[this.index(t, i, ch, y, x)] = values[k++]!;
  }
}

const relu = (v: number): number => (v > 0 ? v : 0);

function runStep(step: PlanStep, plan: Plan, arena: Arena, n: number): void {
  const tensor = (i: number): PlanTensor => plan.tensors[i]!;
  const w = plan.weights;
  switch (step.op) {
    case 'conv2d': {
      const xt = tensor(step.input);
      const yt = tensor(step.output);
      const x = arena.read(xt, n);
      const residual = step.residual >= 0 ? arena.read(tensor(step.residual), n) : null;
      const geometry = { batch: n, inChannels: xt.c, height: xt.h, width: xt.w, outChannels: yt.c, kernel: step.kernel, stride: step.stride, pad: step.pad };
      const [oh, ow] = convOutputSize(geometry);
      if (oh !== yt.h || ow !== yt.w) throw new Error(`interpreter: conv2d output ${yt.h}x${yt.w} does not match its geometry (${oh}x${ow})`);
      const y = convPlanes(x, geometry, w, step.weight.offset, w, step.bias.offset);
      for (let k = 0; k < y.length; k++) {
        const acc = residual === null ? y[k]! : y[k]! + residual[k]!;
        y[k] = step.relu ? relu(acc) : acc;
      }
      arena.write(yt, n, y);
      return;
    }
    case 'maxpool2d':
    case 'avgpool2d': {
      const xt = tensor(step.input);
      const yt = tensor(step.output);
      const x = arena.read(xt, n);
      const y = new Float64Array(n * yt.c * yt.h * yt.w);
      let k = 0;
      for (let i = 0; i < n * yt.c; i++)
        for (let oy = 0; oy < yt.h; oy++)
          for (let ox = 0; ox < yt.w; ox++) {
            let max = -Infinity;
            let sum = 0;
            let count = 0;
            for (let ky = 0; ky < step.kernel[0]; ky++) {
              const iy = oy * step.stride[0] - step.pad[0] + ky;
              if (iy < 0 || iy >= xt.h) continue;
              for (let kx = 0; kx < step.kernel[1]; kx++) {
                const ix = ox * step.stride[1] - step.pad[1] + kx;
                if (ix < 0 || ix >= xt.w) continue;
                const v = x[(i * xt.h + iy) * xt.w + ix]!;
                max = Math.max(max, v);
                sum += v;
                count++;
              }
            }
            y[k++] = step.op === 'maxpool2d' ? max : sum / (step.countIncludePad ? step.kernel[0] * step.kernel[1] : count);
          }
      arena.write(yt, n, y);
      return;
    }
    case 'globalavgpool': {
      const xt = tensor(step.input);
      const x = arena.read(xt, n);
      const hw = xt.h * xt.w;
      const y = new Float64Array(n * xt.c);
      for (let i = 0; i < n * xt.c; i++) {
        for (let j = 0; j < hw; j++) y[i] += x[i * hw + j]!;
        y[i] /= hw;
      }
      arena.write(tensor(step.output), n, y);
      return;
    }
    case 'linear': {
      const xt = tensor(step.input);
      const yt = tensor(step.output);
      const x = arena.read(xt, n);
      const y = new Float64Array(n * yt.c);
      for (let i = 0; i < n; i++)
        for (let o = 0; o < yt.c; o++) {
          let acc = w[step.bias.offset + o]!;
          for (let f = 0; f < xt.c; f++) acc += w[step.weight.offset + o * xt.c + f]! * x[i * xt.c + f]!;
          y[i * yt.c + o] = step.relu ? relu(acc) : acc;
        }
      arena.write(yt, n, y);
      return;
    }
    case 'affine': {
      const xt = tensor(step.input);
      const x = arena.read(xt, n);
      const hw = xt.h * xt.w;
      const y = x.map((v, k) => {
        const c = Math.floor(k / hw) % xt.c;
        const a = v * w[step.scale.offset + c]! + w[step.shift.offset + c]!;
        return step.relu ? relu(a) : a;
      });
      arena.write(tensor(step.output), n, y);
      return;
    }
    case 'relu':
      arena.write(tensor(step.output), n, arena.read(tensor(step.input), n).map(relu));
      return;
    case 'residual_add': {
      const a = arena.read(tensor(step.inputs[0]), n);
      const b = arena.read(tensor(step.inputs[1]), n);
      const y = a.map((v, k) => {
        const s = v + step.scale * b[k]!;
        return step.relu ? relu(s) : s;
      });
      arena.write(tensor(step.output), n, y);
      return;
    }
    case 'concat': {
      const yt = tensor(step.output);
      const pieces = step.inputs.map((i) => ({ t: tensor(i), v: arena.read(tensor(i), n) }));
      const total = pieces.reduce((s, p) => s + p.t.c, 0);
      if (total !== yt.c) throw new Error(`interpreter: concat '${step.name}' pieces have ${total} channels, output ${yt.c}`);
      const hw = yt.h * yt.w;
      const y = new Float64Array(n * yt.c * hw);
      let base = 0;
      for (const p of pieces) {
        for (let i = 0; i < n; i++) for (let j = 0; j < p.t.c * hw; j++) y[(i * yt.c + base) * hw + j] = p.v[i * p.t.c * hw + j]!;
        base += p.t.c;
      }
      arena.write(yt, n, y);
      return;
    }
    case 'l2norm':
    case 'softmax': {
      const xt = tensor(step.input);
      const x = arena.read(xt, n);
      const f = xt.c * xt.h * xt.w;
      const y = new Float64Array(x.length);
      for (let i = 0; i < n; i++) {
        const row = x.subarray(i * f, (i + 1) * f);
        if (step.op === 'l2norm') {
          const d = Math.max(Math.sqrt(row.reduce((s, v) => s + v * v, 0)), step.eps);
          row.forEach((v, j) => (y[i * f + j] = v / d));
        } else {
          const max = row.reduce((m, v) => Math.max(m, v), -Infinity);
          const sum = row.reduce((s, v) => s + Math.exp(v - max), 0);
          row.forEach((v, j) => (y[i * f + j] = Math.exp(v - max) / sum));
        }
      }
      arena.write(tensor(step.output), n, y);
      return;
    }
  }
}

/**
 * Runs `plan` on `input` (plain NCHW float32 [n,C,H,W], n <= plan.batch) and returns the plan
 * output for the n images, row-major [n, K] (float32 values widened to float64).
 */
export function interpretPlan(plan: Plan, input: Float32Array, n: number): Float64Array {
  if (!Number.isInteger(n) || n < 1 || n > plan.batch) throw new Error(`interpreter: n must be in 1..${plan.batch}, got ${n}`);
  const arena = new Arena(plan);
  const inT = plan.tensors[plan.input]!;
  const expected = n * inT.c * inT.h * inT.w;
  if (input.length !== expected) throw new Error(`interpreter: input has ${input.length} values, expected ${expected}`);
  arena.write(inT, n, Float64Array.from(input));
  for (const step of plan.steps) runStep(step, plan, arena, n);
  return arena.read(plan.tensors[plan.output]!, n);
}

import { describe, it, expect } from 'vitest';
import { resolveOptions, parseDevice } from '../../src/runtime/options';
import { DeviceError, InvalidArgumentError, UnknownModelError, WeightsDownloadError } from '../../src/errors';

// Pure validation: every rejection asserts the error class and the exact message.
describe('resolveOptions', () => {
  it('fills the defaults', () => {
    const r = resolveOptions({ model: 'inception_v4', weights: 'synthetic' });
    expect(r.model.name).toBe('inception_v4');
    expect(r.weights).toEqual({ kind: 'synthetic', profile: 'dcfree' });
    expect(r.device).toEqual({ kind: 'cpu', index: 0 });
    expect([r.precision, r.maxBatch, r.height, r.width, r.threads, r.convolution, r.head]).toEqual(['fp32', 8, 299, 299, undefined, 'auto', 'logits']);
    const v1 = resolveOptions({ model: 'inception_resnet_v1', weights: { synthetic: 'plain' }, inputSize: [170, 180], maxBatch: 2, threads: 1, convolution: 'direct' });
    expect([v1.height, v1.width, v1.maxBatch, v1.threads, v1.convolution, v1.head]).toEqual([170, 180, 2, 1, 'direct', 'embedding']);
    expect(v1.weights).toEqual({ kind: 'synthetic', profile: 'plain' });
    expect(resolveOptions({ model: 'inception_v4', weights: '/x/y.safetensors', device: 'cuda:1', precision: 'fp16' }).device).toEqual({ kind: 'cuda', index: 1 });
    // Kernel timing: on by default (cuda: like cudnn.benchmark in the PyTorch comparison; cpu: oneDNN's Winograd kernels).
    expect(resolveOptions({ model: 'inception_v4', weights: 'synthetic', device: 'cuda' }).benchmark).toBe(true);
    expect(resolveOptions({ model: 'inception_v4', weights: 'synthetic', device: 'cuda', benchmark: false }).benchmark).toBe(false);
    expect(r.benchmark).toBe(true);
    expect(resolveOptions({ model: 'inception_v4', weights: 'synthetic', benchmark: false }).benchmark).toBe(false);
  });

  it("weights: the CLI's strings 'synthetic:dcfree' and 'synthetic:plain' mean the same as the object form", () => {
    const weights = (w: unknown) => resolveOptions({ model: 'inception_v4', weights: w }).weights;
    expect(weights('synthetic:plain')).toEqual(weights({ synthetic: 'plain' }));
    expect(weights('synthetic:plain')).toEqual({ kind: 'synthetic', profile: 'plain' });
    expect(weights('synthetic:dcfree')).toEqual(weights('synthetic'));
    expect(() => weights('synthetic:foo')).toThrow(
      new InvalidArgumentError("Unknown synthetic weights 'synthetic:foo'; the synthetic profiles are 'synthetic:dcfree' (= 'synthetic') and 'synthetic:plain' (or { synthetic: 'dcfree' | 'plain' })"),
    );
  });

  it('deterministic: no timing (benchmark false) on every device; with benchmark: true it is an error', () => {
    for (const device of ['cpu', 'cuda'] as const) {
      const r = resolveOptions({ model: 'inception_v4', weights: 'synthetic', device, deterministic: true });
      expect([r.deterministic, r.benchmark]).toEqual([true, false]);
    }
    expect(resolveOptions({ model: 'inception_v4', weights: 'synthetic' }).deterministic).toBe(false);
    expect(resolveOptions({ model: 'inception_v4', weights: 'synthetic', deterministic: true, benchmark: false }).benchmark).toBe(false);
    expect(() => resolveOptions({ model: 'inception_v4', weights: 'synthetic', deterministic: true, benchmark: true })).toThrow(
      new InvalidArgumentError('deterministic: true chooses every kernel without timing; remove benchmark: true (or deterministic)'),
    );
    expect(() => resolveOptions({ model: 'inception_v4', weights: 'synthetic', deterministic: 1 })).toThrow("Expected a boolean for deterministic but received 1 of type number");
  });

  it('weights: pretrained, tags, URLs, { url, sha256 } and paths', () => {
    const weights = (model: string, w: unknown) => resolveOptions({ model, weights: w }).weights;
    expect(weights('inception_v4', 'pretrained')).toEqual({ kind: 'download', source: 'inception_v4.tf_in1k', sha256: null });
    expect(weights('inception_resnet_v2', 'pretrained')).toEqual({ kind: 'download', source: 'inception_resnet_v2.tf_in1k', sha256: null });
    expect(weights('inception_resnet_v1', 'pretrained')).toEqual({ kind: 'download', source: 'inception_resnet_v1.vggface2', sha256: null });
    expect(weights('inception_resnet_v2', 'inception_resnet_v2.tf_ens_adv_in1k')).toEqual({ kind: 'download', source: 'inception_resnet_v2.tf_ens_adv_in1k', sha256: null });
    expect(weights('inception_v4', 'https://example.com/a/m.safetensors')).toEqual({ kind: 'download', source: 'https://example.com/a/m.safetensors', sha256: null });
    expect(weights('inception_v4', 'http://127.0.0.1:8080/m.safetensors')).toEqual({ kind: 'download', source: 'http://127.0.0.1:8080/m.safetensors', sha256: null });
    expect(weights('inception_v4', { url: 'https://example.com/m.pt', sha256: 'AB'.repeat(32) })).toEqual({ kind: 'download', source: 'https://example.com/m.pt', sha256: 'ab'.repeat(32) });
    expect(weights('inception_v4', './inception_v4.tf_in1k')).toEqual({ kind: 'checkpoint', path: './inception_v4.tf_in1k' });
    expect(weights('inception_v4', 'model.pt')).toEqual({ kind: 'checkpoint', path: 'model.pt' });
    const listener = (): void => undefined;
    expect(resolveOptions({ model: 'inception_v4', weights: 'pretrained', onProgress: listener }).onProgress).toBe(listener);
  });

  const cases: [string, unknown, new (...args: never[]) => Error, string][] = [
    ['not an object', 'inception_v4', InvalidArgumentError, "Expected an object with at least model and weights for options but received 'inception_v4' of type string"],
    ['unknown key', { model: 'inception_v4', weights: 'synthetic', batch: 2 }, InvalidArgumentError, "Unknown option 'batch'; the options are: model, weights, onProgress, device, precision, maxBatch, inputSize, threads, convolution, head, streams, benchmark, deterministic"],
    ['missing model', { weights: 'synthetic' }, InvalidArgumentError, 'Expected a model name for model but received undefined'],
    ['unknown model', { model: 'resnet50', weights: 'synthetic' }, UnknownModelError, "Unknown model 'resnet50'; use one of: inception_v4, inception_resnet_v2, inception_resnet_v1"],
    ['missing weights', { model: 'inception_v4' }, InvalidArgumentError, "Expected 'pretrained', a tag, a URL, a checkpoint path, { url, sha256 }, 'synthetic', 'synthetic:dcfree', 'synthetic:plain' or { synthetic: 'dcfree' | 'plain' } for weights but received undefined"],
    ['empty weights', { model: 'inception_v4', weights: '' }, InvalidArgumentError, "Expected 'pretrained', a tag, a URL, a checkpoint path, { url, sha256 }, 'synthetic', 'synthetic:dcfree', 'synthetic:plain' or { synthetic: 'dcfree' | 'plain' } for weights but received '' of type string"],
    ['a tag of another model', { model: 'inception_v4', weights: 'inception_resnet_v1.vggface2' }, InvalidArgumentError, "weights 'inception_resnet_v1.vggface2' is a checkpoint of inception_resnet_v1, not inception_v4; the tags of inception_v4 are: inception_v4.tf_in1k"],
    ['an unknown tag', { model: 'inception_v4', weights: 'inception_v4.tf_in22k' }, InvalidArgumentError, "weights 'inception_v4.tf_in22k' is neither a known tag nor an existing file; the known tags are: inception_v4.tf_in1k, inception_resnet_v2.tf_in1k, inception_resnet_v2.tf_ens_adv_in1k, inception_resnet_v1.vggface2, inception_resnet_v1.casia_webface ('inception-cudnn weights list' shows them)"],
    ['plain http elsewhere', { model: 'inception_v4', weights: 'http://example.com/m.safetensors' }, WeightsDownloadError, 'weights: http://example.com/m.safetensors is plain http to another machine; use https:// (http:// is accepted only for this machine, e.g. a local mirror on 127.0.0.1)'],
    ['ftp', { model: 'inception_v4', weights: 'ftp://example.com/m.safetensors' }, WeightsDownloadError, 'weights: ftp://example.com/m.safetensors uses ftp:; checkpoints are downloaded over https:// only'],
    ['url form with a tag', { model: 'inception_v4', weights: { url: 'inception_v4.tf_in1k' } }, InvalidArgumentError, "Expected an https:// URL (a tag or path goes in weights itself) for weights.url but received 'inception_v4.tf_in1k' of type string"],
    ['url form with a bad sha256', { model: 'inception_v4', weights: { url: 'https://example.com/m.safetensors', sha256: 'abc' } }, InvalidArgumentError, 'weights.sha256 must be a sha256 of 64 hex digits, got "abc"'],
    ['url form with another key', { model: 'inception_v4', weights: { url: 'https://example.com/m.safetensors', md5: 'x' } }, InvalidArgumentError, "Unknown key 'md5' in weights; { url, sha256 } takes only these two"],
    ['onProgress not a function', { model: 'inception_v4', weights: 'pretrained', onProgress: 'yes' }, InvalidArgumentError, "Expected a function for onProgress but received 'yes' of type string"],
    ['bad profile', { model: 'inception_v4', weights: { synthetic: 'random' } }, InvalidArgumentError, "Expected 'dcfree' or 'plain' for weights.synthetic but received 'random' of type string"],
    ['unknown device', { model: 'inception_v4', weights: 'synthetic', device: 'tpu' }, DeviceError, "Unknown device 'tpu' of type string; use 'cpu', 'cuda' or 'cuda:N' (N = device ordinal, e.g. 'cuda:0')"],
    ['malformed cuda', { model: 'inception_v4', weights: 'synthetic', device: 'cuda:-1' }, DeviceError, "Unknown device 'cuda:-1' of type string; use 'cpu', 'cuda' or 'cuda:N' (N = device ordinal, e.g. 'cuda:0')"],
    ['device not a string', { model: 'inception_v4', weights: 'synthetic', device: 0 }, InvalidArgumentError, "Expected one of 'cpu', 'cuda', 'cuda:N' for device but received 0 of type number"],
    ['fp16 on cpu', { model: 'inception_v4', weights: 'synthetic', precision: 'fp16' }, InvalidArgumentError, "precision 'fp16' needs device 'cuda'; the CPU backend runs 'fp32' or 'bf16'"],
    ['bf16 on cuda', { model: 'inception_v4', weights: 'synthetic', device: 'cuda', precision: 'bf16' }, InvalidArgumentError, "precision 'bf16' is for device 'cpu' (CPUs with AVX512-BF16 or AMX); on 'cuda' use 'fp16', 'tf32' or 'fp32'"],
    ['bad precision', { model: 'inception_v4', weights: 'synthetic', device: 'cuda', precision: 'int8' }, InvalidArgumentError, "Expected one of 'fp32', 'tf32', 'fp16', 'bf16' for precision but received 'int8' of type string"],
    ['maxBatch 0', { model: 'inception_v4', weights: 'synthetic', maxBatch: 0 }, InvalidArgumentError, 'Expected an integer in [1, 4096] for maxBatch but received 0 of type number'],
    ['maxBatch fraction', { model: 'inception_v4', weights: 'synthetic', maxBatch: 2.5 }, InvalidArgumentError, 'Expected an integer in [1, 4096] for maxBatch but received 2.5 of type number'],
    ['maxBatch string', { model: 'inception_v4', weights: 'synthetic', maxBatch: '8' }, InvalidArgumentError, "Expected an integer in [1, 4096] for maxBatch but received '8' of type string"],
    ['inputSize too small', { model: 'inception_v4', weights: 'synthetic', inputSize: 64 }, InvalidArgumentError, 'Expected an integer in [75, 4096] (inception_v4 needs at least 75) for inputSize but received 64 of type number'],
    ['inputSize pair item', { model: 'inception_v4', weights: 'synthetic', inputSize: [299, 'x'] }, InvalidArgumentError, "Expected an integer in [75, 4096] (inception_v4 needs at least 75) for inputSize[1] but received 'x' of type string"],
    ['inputSize triple', { model: 'inception_v4', weights: 'synthetic', inputSize: [1, 2, 3] }, InvalidArgumentError, 'Expected an integer or a [height, width] pair of integers for inputSize but received an array of length 3'],
    ['threads 0', { model: 'inception_v4', weights: 'synthetic', threads: 0 }, InvalidArgumentError, 'Expected an integer in [1, 1024] for threads but received 0 of type number'],
    ['threads on cuda', { model: 'inception_v4', weights: 'synthetic', device: 'cuda', threads: 2 }, InvalidArgumentError, "threads applies to device 'cpu' only; remove it for 'cuda'"],
    ['benchmark not a boolean', { model: 'inception_v4', weights: 'synthetic', device: 'cuda', benchmark: 'yes' }, InvalidArgumentError, "Expected a boolean for benchmark but received 'yes' of type string"],
    ['convolution unknown', { model: 'inception_v4', weights: 'synthetic', convolution: 'winograd' }, InvalidArgumentError, "Expected 'auto' or 'direct' for convolution but received 'winograd' of type string"],
    ['convolution on cuda', { model: 'inception_v4', weights: 'synthetic', device: 'cuda', convolution: 'direct' }, InvalidArgumentError, "convolution applies to device 'cpu' only (cuDNN chooses its own algorithms); remove it for 'cuda'"],
    ['head on v4', { model: 'inception_v4', weights: 'synthetic', head: 'logits' }, InvalidArgumentError, 'head applies to inception_resnet_v1 only; inception_v4 always outputs logits'],
    ['bad head', { model: 'inception_resnet_v1', weights: 'synthetic', head: 'pooled' }, InvalidArgumentError, "Expected 'embedding' or 'logits' for head but received 'pooled' of type string"],
    ['logits head on synthetic', { model: 'inception_resnet_v1', weights: 'synthetic', head: 'logits' }, InvalidArgumentError, "head 'logits' needs a facenet checkpoint with logits.weight and logits.bias; synthetic weights have none"],
  ];
  for (const [what, options, errorClass, message] of cases) {
    it(`rejects ${what}`, () => {
      expect(() => resolveOptions(options)).toThrow(errorClass);
      expect(() => resolveOptions(options)).toThrow(message);
    });
  }
});

describe('parseDevice', () => {
  it('accepts cpu, cuda and cuda:N', () => {
    expect(parseDevice(undefined)).toEqual({ kind: 'cpu', index: 0 });
    expect(parseDevice('cuda')).toEqual({ kind: 'cuda', index: 0 });
    expect(parseDevice('cuda:12')).toEqual({ kind: 'cuda', index: 12 });
    expect(() => parseDevice('cuda:01')).toThrow(DeviceError);
    expect(() => parseDevice('CPU')).toThrow(DeviceError);
  });
});

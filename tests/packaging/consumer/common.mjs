// Shared by the consumer checks that run inside the bare root (tests/packaging/run.sh): one
// deterministic input and one session recipe, so that every thread computes the same thing.
export const MODEL = 'inception_resnet_v1';
export const INPUT_SIZE = 160;
/** benchmark: false takes oneDNN's first kernel choice, so outputs are bitwise repeatable. */
export const SESSION_OPTIONS = Object.freeze({ model: MODEL, weights: 'synthetic', maxBatch: 2, benchmark: false, threads: 1 });

/** A fixed pseudo-random batch [2, 3, 160, 160] in [-1, 1). */
export function input() {
  const n = 2;
  const data = new Float32Array(n * 3 * INPUT_SIZE * INPUT_SIZE);
  let state = 12345;
  for (let i = 0; i < data.length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    data[i] = state / 2 ** 31 - 1;
  }
  return { data, shape: [n, 3, INPUT_SIZE, INPUT_SIZE] };
}

export function sameBits(a, b) {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.every((v, i) => v === y[i]);
}

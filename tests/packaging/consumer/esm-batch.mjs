// An ES module consumer: named and default imports of the installed package, one batch.
import inception, { createSession, InvalidInputError, MODEL_NAMES } from 'inception-cudnn';
import { input, SESSION_OPTIONS } from './common.mjs';

if (inception.createSession !== createSession) throw new Error('the default export is not the CommonJS module the named exports come from');
if (!MODEL_NAMES.includes('inception_v4')) throw new Error(`MODEL_NAMES is ${JSON.stringify(MODEL_NAMES)}`);

const session = await createSession(SESSION_OPTIONS);
const { data, shape } = input();
const out = await session.run(data, shape);
if (out.length !== 2 * 512) throw new Error(`expected 1024 outputs, got ${out.length}`);
for (let row = 0; row < 2; row++) {
  let norm = 0;
  for (let i = 0; i < 512; i++) norm += out[row * 512 + i] ** 2;
  // Embeddings are L2-normalised in float32: 1 within a few ulps of the 512-term sum.
  if (Math.abs(Math.sqrt(norm) - 1) > 1e-5) throw new Error(`row ${row} has norm ${Math.sqrt(norm)}`);
}
let rejected = false;
try {
  await session.run(new Float32Array(3), [1, 3, 1, 1]);
} catch (error) {
  rejected = error instanceof InvalidInputError;
}
if (!rejected) throw new Error('a bad input was not refused with InvalidInputError');
await session.dispose();
console.log(`esm: ${out.length} outputs, first ${out[0].toFixed(6)}, bad input refused with InvalidInputError`);

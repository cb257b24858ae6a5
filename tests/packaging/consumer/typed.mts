// A TypeScript ES module consumer, type-checked with --strict and node16 resolution.
import inception, { createSession, type Session, type SessionOptions, InceptionError, type ModelName } from 'inception-cudnn';

const model: ModelName = 'inception_v4';
const options: SessionOptions = { model, weights: 'synthetic', maxBatch: 2 };

export async function top1(image: Uint8Array): Promise<string> {
  const session: Session = await createSession(options);
  try {
    const [classes] = await session.classify([image], { topK: 1 });
    return classes[0].label;
  } catch (error) {
    if (error instanceof InceptionError) return `failed: ${error.code}`;
    throw error;
  } finally {
    await session.dispose();
  }
}

export const sameFunction: boolean = inception.createSession === createSession;

// A TypeScript CommonJS consumer of the same package (the `require` condition's types).
import inception = require('inception-cudnn');

export async function embeddingLength(): Promise<number> {
  const session = await inception.createSession({ model: 'inception_resnet_v1', weights: 'synthetic' });
  const shape: readonly number[] = session.info.outputShape;
  await session.dispose();
  return shape[shape.length - 1];
}

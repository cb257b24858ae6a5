/**
 * `inception-cudnn weights ...` through main(): exit codes (0 ok, 1 run-time failure, 2 bad
 * command line), list / pull / path / verify / rm against a loopback hub mirror, and convert
 * on torch-written fixtures (the .safetensors copy must hold bitwise the tensors the .pt
 * reader reads, dtypes unchanged). Exact comparisons throughout.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../../src/weights/safetensors';
import { TorchCheckpointFile } from '../../src/weights/torch-file';
import { progressPrinter, type DownloadProgress } from '../../src/weights/progress';
import { cli } from '../helpers/cli';
import { startWeightsServer, testBytes, type WeightsServer } from '../helpers/weights-server';
import { tempDir } from '../weights/builders';

const FIXTURES = path.resolve(__dirname, '../fixtures/pt');
const tmp = tempDir();
let server: WeightsServer;
const FILE = testBytes(200_000, 11);
const SHA = createHash('sha256').update(FILE).digest('hex');
const saved = { ...process.env };

beforeAll(async () => {
  server = await startWeightsServer();
  server.serve('/timm/inception_v4.tf_in1k/resolve/main/model.safetensors', FILE, 'hub');
  const table = path.join(tmp.dir, 'table.json');
  writeFileSync(table, JSON.stringify({ 'inception_v4.tf_in1k': { sha256: SHA } }));
  // main() reads process.env; vitest runs this file in its own process.
  Object.assign(process.env, { INCEPTION_CACHE_DIR: path.join(tmp.dir, 'cache'), INCEPTION_WEIGHTS_MIRROR: server.url, INCEPTION_WEIGHTS_TABLE: table });
  delete process.env.INCEPTION_OFFLINE;
  delete process.env.HF_HUB_OFFLINE;
});

afterAll(async () => {
  process.env = saved;
  await server.close();
  tmp.cleanup();
});

describe('weights: bad command lines exit 2', () => {
  it.each([
    [['weights'], 'weights needs a subcommand: list, pull, verify, path, rm, convert'],
    [['weights', 'bogus'], "unknown weights subcommand 'bogus'"],
    [['weights', 'list', '--all'], 'weights list does not take --all'],
    [['weights', 'pull'], "weights pull needs a tag, 'pretrained' (with --model) or a URL"],
    [['weights', 'pull', 'pretrained', '--model', 'resnet50'], "--model expects inception_v4, inception_resnet_v2 or inception_resnet_v1, got 'resnet50'"],
    [['weights', 'rm'], 'weights rm needs tags or URLs, or --all'],
    [['weights', 'convert', 'a.pt'], 'weights convert takes IN.pt OUT.safetensors'],
    [['predict', '--model', 'inception_v4', '--weights', 'pretrained', '--weights-sha256', SHA, 'x.jpg'], '--weights-sha256 goes with --weights URL'],
    [['predict', '--model', 'inception_v4', '--weights', 'https://example.com/m.safetensors', '--weights-sha256', 'zz', 'x.jpg'], "--weights-sha256 expects 64 hex digits, got 'zz'"],
    // A tag or URL the command line got wrong is a bad command line too, before any download.
    [['weights', 'pull', 'inception_v4.nope'], "'inception_v4.nope' is neither a known tag nor an existing file"],
    [['weights', 'path', 'inception_v4.nope'], "'inception_v4.nope' is neither a known tag nor an existing file"],
    [['weights', 'pull', 'https://example.com/m.safetensors', '--weights-sha256', 'zz'], '--weights-sha256 must be a sha256 of 64 hex digits, got "zz"'],
    [['weights', 'rm', './local.pt'], "'./local.pt' is a local path, not a tag or URL; nothing to download"],
    [['weights', 'pull', 'http://example.com/m.safetensors'], 'http://example.com/m.safetensors is plain http to another machine; use https://'],
  ])('%j', async (argv, message) => {
    const r = await cli(...argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: ${message}`);
    expect(r.stderr).toContain('--help');
  });
});

describe('weights list, pull, path, verify, rm', () => {
  it('list shows every tag, the pretrained ones starred, and what is cached', async () => {
    const r = await cli('weights', 'list');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`cache: ${path.join(tmp.dir, 'cache')}`);
    expect(r.stdout).toMatch(/^\* inception_v4\.tf_in1k +inception_v4 +safetensors +~171\.0 MB +pinned [0-9a-f]{12}… +no /m);
    expect(r.stdout).toMatch(/^ {2}inception_resnet_v2\.tf_ens_adv_in1k .* hub X-Linked-Etag /m);
    expect(r.stdout).toMatch(/^\* inception_resnet_v1\.vggface2 .* recorded on first download +no /m);
    const json = JSON.parse((await cli('weights', 'list', '--json')).stdout);
    expect(json.checkpoints.map((c: { tag: string }) => c.tag)).toEqual([
      'inception_v4.tf_in1k', 'inception_resnet_v2.tf_in1k', 'inception_resnet_v2.tf_ens_adv_in1k', 'inception_resnet_v1.vggface2', 'inception_resnet_v1.casia_webface',
    ]);
    expect(json.checkpoints[0]).toMatchObject({ pretrained: true, sha256: SHA, url: `${server.url}/timm/inception_v4.tf_in1k/resolve/main/model.safetensors`, cached: false });
  });

  it('pull prints the path on stdout and progress on stderr; path, verify and rm then work on the cache', async () => {
    const pulled = await cli('weights', 'pull', 'pretrained', '--model', 'inception_v4');
    expect(pulled.code, pulled.stderr).toBe(0);
    const file = path.join(tmp.dir, 'cache', 'inception_v4.tf_in1k', 'model.safetensors');
    expect(pulled.stdout).toBe(`${file}\n`);
    expect(pulled.stderr).toContain(`downloading inception_v4.tf_in1k: 0 B of 200.0 kB (0%) from ${server.url}/timm/`);
    expect(pulled.stderr).toContain(`inception_v4.tf_in1k: 200000 bytes in ${file}; sha256 ${SHA} verified (pinned, hub-etag)`);
    expect(readFileSync(file).equals(FILE)).toBe(true);

    const again = await cli('weights', 'pull', 'inception_v4.tf_in1k');
    expect(again.stderr).toContain(`inception_v4.tf_in1k: already in the cache, sha256 ${SHA} checked (pinned, hub-etag)`);

    expect(await cli('weights', 'path', 'inception_v4.tf_in1k')).toEqual({ code: 0, stdout: `${file}\n`, stderr: expect.stringContaining('') });
    const listed = await cli('weights', 'list');
    expect(listed.stdout).toMatch(/^\* inception_v4\.tf_in1k .* yes, 200\.0 kB /m);

    const verified = await cli('weights', 'verify');
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain(`ok       inception_v4.tf_in1k  sha256 ${SHA} (pinned, hub-etag)`);

    const corrupted = Buffer.from(FILE);
    corrupted[7] ^= 0x80;
    writeFileSync(file, corrupted);
    const bad = await cli('weights', 'verify', 'inception_v4.tf_in1k');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`BAD      inception_v4.tf_in1k  its sha256 is ${createHash('sha256').update(corrupted).digest('hex')} but ${SHA} was recorded`);

    const removed = await cli('weights', 'rm', 'inception_v4.tf_in1k');
    expect(removed).toMatchObject({ code: 0, stderr: `removed inception_v4.tf_in1k (${file})\n` });
    const gone = await cli('weights', 'path', 'inception_v4.tf_in1k');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("is not in the cache (it would be");
    const missing = await cli('weights', 'verify', 'inception_v4.tf_in1k');
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain("missing  inception_v4.tf_in1k  not in the cache: run 'inception-cudnn weights pull inception_v4.tf_in1k'");
  });

  it('a failed download exits 1 with the error on stderr', async () => {
    const r = await cli('weights', 'pull', 'inception_resnet_v2.tf_in1k');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: inception_resnet_v2.tf_in1k: HTTP 404 Not Found for ${server.url}/timm/inception_resnet_v2.tf_in1k/resolve/main/model.safetensors`);
  });
});

describe('weights convert', () => {
  for (const fixture of ['small_state_legacy.pt', 'dtypes_zip.pt', 'views_legacy.pt']) {
    it(`${fixture}: every tensor, bitwise, dtype and shape kept`, async () => {
      const out = path.join(tmp.dir, `${fixture}.safetensors`);
      const r = await cli('weights', 'convert', path.join(FIXTURES, fixture), out);
      expect(r.code, r.stderr).toBe(0);
      const pt = await TorchCheckpointFile.open(path.join(FIXTURES, fixture), fixture.includes('legacy') ? 'torch-pickle' : 'torch-zip');
      const st = await SafetensorsFile.open(out);
      try {
        expect(r.stderr).toBe(`wrote ${out}: ${pt.entries.size} tensors, ${st.fileBytes} bytes (from a ${fixture.includes('legacy') ? 'legacy' : 'zip'} torch.save file)\n`);
        expect(st.metadata).toEqual({ format: 'pt', converted_from: fixture });
        expect([...st.entries.keys()]).toEqual([...pt.entries.keys()]);
        for (const [name, entry] of pt.entries) {
          expect({ dtype: st.entries.get(name)!.dtype, shape: st.entries.get(name)!.shape }).toEqual(entry);
          expect(Buffer.from(await st.readRaw(name)).equals(Buffer.from(await pt.readRaw(name))), name).toBe(true);
        }
      } finally {
        await pt.close();
        await st.close();
      }
    });
  }

  it('refuses a hostile file, a file that is not a .pt, and a file that does not fit --model (exit 1, nothing written)', async () => {
    const out = path.join(tmp.dir, 'never.safetensors');
    const evil = await cli('weights', 'convert', path.join(FIXTURES, 'evil_posix_system_legacy.pt'), out);
    expect(evil.code).toBe(1);
    expect(evil.stderr).toContain("refused the global 'posix.system'");
    const notPt = await cli('weights', 'convert', path.join(tmp.dir, 'small_state_legacy.pt.safetensors'), out);
    expect(notPt.code).toBe(1);
    expect(notPt.stderr).toContain('is not a PyTorch checkpoint');
    const wrongModel = await cli('weights', 'convert', path.join(FIXTURES, 'small_state_zip.pt'), out, '--model', 'inception_v4');
    expect(wrongModel.code).toBe(1);
    expect(wrongModel.stderr).toMatch(/does not fit inception_v4 .* missing/);
    expect(() => readFileSync(out)).toThrow();
  });
});

describe('progress on stderr', () => {
  const event = (received: number, extra: Partial<DownloadProgress> = {}): DownloadProgress => ({
    phase: 'downloading', label: 'inception_v4.tf_in1k', url: 'https://huggingface.co/x', file: '/c/model.safetensors', receivedBytes: received,
    totalBytes: 171_000_000, resumedFromBytes: 0, bytesPerSecond: received === 0 ? null : 10_000_000, etaSeconds: received === 0 ? null : (171_000_000 - received) / 10_000_000, message: null, ...extra,
  });

  it('a terminal gets one bar redrawn in place (bytes, percent, rate, ETA), at most every 100 ms', () => {
    let out = '';
    let now = 0;
    const print = progressPrinter((t) => (out += t), true, () => now);
    print(event(0));
    now = 50;
    print(event(1_000_000)); // within 100 ms: skipped
    now = 150;
    print(event(77_100_000));
    print(event(171_000_000, { etaSeconds: 0 })); // the last one is always drawn
    print(event(171_000_000, { phase: 'done', message: 'done.' }));
    expect(out.split('\r').filter(Boolean)).toEqual([
      'inception_v4.tf_in1k [........................] 0 B of 171.0 MB (0%)\x1b[K',
      'inception_v4.tf_in1k [###########.............] 77.1 MB of 171.0 MB (45%), 10.0 MB/s, ETA 9s\x1b[K',
      'inception_v4.tf_in1k [########################] 171.0 MB of 171.0 MB (100%), 10.0 MB/s, ETA 0s\x1b[K\ndone.\n',
    ]);
  });

  it('elsewhere, one line at first and then every 5 s', () => {
    let out = '';
    let now = 0;
    const print = progressPrinter((t) => (out += t), false, () => now);
    print(event(0));
    for (now = 1000; now < 11_000; now += 1000) print(event(now * 1000));
    expect(out.split('\n').filter(Boolean)).toEqual([
      'downloading inception_v4.tf_in1k: 0 B of 171.0 MB (0%) from https://huggingface.co/x',
      'downloading inception_v4.tf_in1k: 5.0 MB of 171.0 MB (2%), 10.0 MB/s, ETA 17s',
      'downloading inception_v4.tf_in1k: 10.0 MB of 171.0 MB (5%), 10.0 MB/s, ETA 16s',
    ]);
  });
});

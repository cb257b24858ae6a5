/**
 * `inception-cudnn serve` as a child process for the serve benchmarks: started from lib/cli.js
 * (resolves once it prints where it listens), stopped with SIGTERM (SIGKILL after a bound), and
 * its resident memory read from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

// Compiled to lib/bench/child-server.js: the package root is two folders up from both places.
export const ROOT = resolve(__dirname, '..', '..');

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** e.g. http://127.0.0.1:41234 */
  readonly url: string;
  /** Resolves to the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
}

/**
 * Starts `serve` with these arguments (add --port 0); rejects if it exits or does not listen within `startTimeoutMs`.
 * HTTP only (--no-grpc) unless the arguments name --grpc-port: the default gRPC port 8001 is fixed.
 */
export async function startServe(args: readonly string[], startTimeoutMs = 60_000): Promise<ServeProcess> {
  const grpc = args.includes('--grpc-port') || args.includes('--no-grpc') ? [] : ['--no-grpc'];
  const child = spawn(process.execPath, [join(ROOT, 'lib', 'cli.js'), 'serve', ...args, ...grpc], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start within ${startTimeoutMs / 1000} s:\n${stderr}`)), startTimeoutMs);
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = / on (http:\/\/[^ ]+?)\/v2\/models/.exec(stderr);
      if (match !== null) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited with ${String(code)}:\n${stderr}`));
    });
  });
  return { child, pid: child.pid as number, url, exited, stderr: () => stderr };
}

/** SIGTERM, then SIGKILL if it has not exited after `killAfterMs`; resolves to the exit code. */
export async function stopServe(server: ServeProcess, killAfterMs = 30_000): Promise<number | null> {
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), killAfterMs);
  const code = await server.exited;
  clearTimeout(timer);
  return code;
}

/** The process's resident set (VmRSS), bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match === null ? NaN : Number(match[1]) * 1024;
}

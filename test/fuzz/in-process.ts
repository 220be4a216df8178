import { main } from '../../src/cli/main.js';

export interface MainResult {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * The CLI's `main` run in this process on the sources (not dist/), its output captured: what a
 * user would see, at the cost of a function call rather than a process.
 */
export async function runMain(argv: string[]): Promise<MainResult> {
  const out: string[] = [];
  const err: string[] = [];
  const stdout = process.stdout.write;
  const stderr = process.stderr.write;
  const capture = (into: string[]) => ((chunk: string | Uint8Array) => {
    into.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('latin1'));
    return true;
  }) as typeof process.stdout.write;
  process.stdout.write = capture(out);
  process.stderr.write = capture(err);
  let status: number;
  try {
    status = await main(argv);
  } finally {
    process.stdout.write = stdout;
    process.stderr.write = stderr;
  }
  return { status, stdout: out.join(''), stderr: err.join('') };
}

import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ElfObject } from '../../src/elf/object.js';
import { loadMap } from '../../src/kernel/map-load.js';
import { type CaseKind, type FuzzCase, makeCase } from './cases.js';
import { buildCorpus } from './corpus.js';
import { type CliResult, runCliInProcess } from '../helpers.js';

/** What the parent (run.ts) hands the worker, and what the worker tells it. */
export interface WorkerOptions {
  seed: number;
  start: number;
  count: number;
  work: string;
  findings: string;
  readelfEvery: number;
  rssLimitMb: number;
  kinds: CaseKind[];
}

export type WorkerMessage =
  | { type: 'start'; index: number }
  | { type: 'finding'; index: number; entry: string; label: string; problem: string }
  | { type: 'stats'; statuses: Record<string, number> }
  | { type: 'end' };

function send(m: WorkerMessage): void {
  process.send!(m);
}

function lay(dir: string, c: FuzzCase): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'mods'), { recursive: true });
  // Text inputs were read as latin1: written back the same way, byte for byte.
  for (const [name, data] of c.files) writeFileSync(join(dir, name), data, typeof data === 'string' ? 'latin1' : undefined);
}

function readelfErrors(file: string): string | undefined {
  const r = spawnSync('readelf', ['-hSsrW', file], { encoding: 'latin1', maxBuffer: 1 << 28 });
  if (r.status !== 0) return `readelf exit ${r.status}: ${r.stderr.split('\n')[0]}`;
  return r.stderr.split('\n').find((l) => /Error/.test(l));
}

/**
 * The oracle: a one-line typed error (exit 1, nothing written, no temporary file left), or a
 * result that holds up: an object our reader and readelf read, no bigger than its input and the
 * changes, a conversion `verify` accepts, a symbol map that reads back.
 */
async function judge(c: FuzzCase, dir: string, r: CliResult, readelf: boolean): Promise<string | undefined> {
  const at = (name: string) => join(dir, name);
  if (r.status === 70) return `internal error: ${r.stderr.split('\n')[0]}`;
  if (r.status !== 0 && r.status !== 1) return `exit ${r.status}: ${r.stderr.split('\n')[0]}`;
  if (/\n\s+at /.test(r.stderr)) return 'stack trace on stderr';
  // verify reports what it finds on stdout, with exit 1; every other failure is one line on stderr.
  const reported = r.stderr.startsWith('klp-convert: ') || (c.entry === 'verify' && r.stderr === '' && r.stdout !== '');
  if (r.status === 1 && !reported) return `error without a message: ${JSON.stringify(r.stderr.slice(0, 200))}`;
  if (readdirSync(dir).some((f) => f.endsWith('.tmp'))) return 'temporary file left behind';
  if (!c.output) return undefined;
  const out = at(c.output);
  if (r.status !== 0) return existsSync(out) ? 'output written despite the error' : undefined;
  if (!existsSync(out)) return 'exit 0 without its output';
  if (c.output.endsWith('.map')) {
    try {
      loadMap(out);
    } catch (e) {
      return `wrote a map that does not read back: ${(e as Error).message}`;
    }
    return undefined;
  }
  const bytes = readFileSync(out);
  try {
    ElfObject.parse(bytes, out);
  } catch (e) {
    return `wrote an object its own reader refuses: ${(e as Error).message}`;
  }
  const inSize = statSync(at(c.elfInput!)).size;
  if (bytes.length > 3 * inSize + (1 << 17)) return `output of ${bytes.length} bytes for an input of ${inSize}`;
  if (c.entry === 'convert') {
    const v = await runCliInProcess(['verify', out, '--symbols', at(c.map!)]);
    if (v.status !== 0)
      return `verify refuses the conversion: ${v.stderr.split('\n').slice(0, 3).join(' | ') || v.stdout.split('\n').slice(0, 3).join(' | ')}`;
  }
  if (readelf) {
    const after = readelfErrors(out);
    if (after && !readelfErrors(at(c.elfInput!))) return `readelf: ${after}`;
  }
  return undefined;
}

async function work(o: WorkerOptions): Promise<void> {
  const corpus = await buildCorpus(join(o.work, 'corpus'));
  const dir = join(o.work, 'case');
  let statuses: Record<string, number> = {};
  for (let i = o.start; i < o.count; i++) {
    send({ type: 'start', index: i });
    const c = makeCase(o.seed, i, corpus, o.kinds);
    lay(dir, c);
    const argv = c.argv.map((a) => (a.startsWith('@') ? join(dir, a.slice(1)) : a));
    const r = await runCliInProcess(argv);
    statuses[`${c.entry} ${r.status}`] = (statuses[`${c.entry} ${r.status}`] ?? 0) + 1;
    let problem = await judge(c, dir, r, o.readelfEvery > 0 && i % o.readelfEvery === 0);
    const rss = process.memoryUsage.rss() / (1 << 20);
    if (!problem && rss > o.rssLimitMb) problem = `resident memory ${Math.round(rss)} MB after the execution`;
    if (problem) {
      const keep = join(o.findings, `${o.seed}-${i}`);
      mkdirSync(dirname(keep), { recursive: true });
      cpSync(dir, keep, { recursive: true });
      send({ type: 'finding', index: i, entry: c.entry, label: c.label, problem });
    }
    // Counts go out as they come: a worker killed for a finding loses none.
    if ((i + 1) % 500 === 0) {
      send({ type: 'stats', statuses });
      statuses = {};
    }
  }
  send({ type: 'stats', statuses });
  send({ type: 'end' });
}

await work(JSON.parse(process.argv[2]) as WorkerOptions);
process.disconnect();

import { fork } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type CaseKind, caseKinds } from './cases.js';
import type { WorkerMessage, WorkerOptions } from './worker.js';

export interface FuzzOptions {
  seed: number;
  /** Cases `start` (default 0) to `count - 1`: `--start 41 --count 42` replays case 41 alone. */
  start?: number;
  count: number;
  /** Longest one execution may take before it counts as a hang. */
  timeLimitMs: number;
  /** Resident memory of the worker that counts as a blow-up. */
  rssLimitMb: number;
  /** Check every n-th written object with readelf too (0: never). */
  readelfEvery: number;
  /** Where inputs of findings are kept. */
  findings: string;
  /** Kinds of input to mutate (default: all). */
  kinds?: CaseKind[];
  progress?: (done: number, findings: number) => void;
}

export interface Finding {
  index: number;
  entry: string;
  label: string;
  problem: string;
}

export interface FuzzResult {
  executions: number;
  findings: Finding[];
  /** `entry status` → executions. */
  statuses: Record<string, number>;
  seconds: number;
}

/** Resident memory of a process, from /proc (0 once it is gone). */
function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Run `count` seeded executions in a worker process, watched from here: an execution that takes
 * longer than the time limit, or a worker whose memory passes the limit, is killed and recorded as
 * a finding (its case folder kept), and a new worker goes on with the next execution.
 */
export async function runFuzz(o: FuzzOptions): Promise<FuzzResult> {
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'klpc-fuzz-'));
  const findings: Finding[] = [];
  const statuses: Record<string, number> = {};
  let executions = 0;
  let next = o.start ?? 0;
  try {
    while (next < o.count) {
      const opts: WorkerOptions = {
        seed: o.seed,
        start: next,
        count: o.count,
        work,
        findings: o.findings,
        readelfEvery: o.readelfEvery,
        rssLimitMb: o.rssLimitMb,
        kinds: o.kinds ?? [...caseKinds],
      };
      const child = fork(join(import.meta.dirname, 'worker.ts'), [JSON.stringify(opts)], {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      let current = -1;
      let since = Date.now();
      let ended = false;
      let killedFor: string | undefined;
      child.on('message', (m: WorkerMessage) => {
        if (m.type === 'start') {
          current = m.index;
          since = Date.now();
          executions++;
          if (executions % 1000 === 0) o.progress?.(executions, findings.length);
        } else if (m.type === 'finding') findings.push({ index: m.index, entry: m.entry, label: m.label, problem: m.problem });
        else if (m.type === 'stats') for (const [k, v] of Object.entries(m.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
        else ended = true;
      });
      const watch = setInterval(() => {
        // The corpus is built before the first execution: the time limit runs from then.
        if (current < 0) return;
        const rss = rssMb(child.pid!);
        if (rss > o.rssLimitMb) killedFor = `resident memory passed ${o.rssLimitMb} MB (${Math.round(rss)} MB)`;
        else if (Date.now() - since > o.timeLimitMs) killedFor = `still running after ${o.timeLimitMs} ms`;
        if (killedFor) child.kill('SIGKILL');
      }, 50);
      const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
      clearInterval(watch);
      if (ended) break;
      if (current < 0) throw new Error(`fuzz worker failed before its first execution (exit ${code})`);
      const keep = join(o.findings, `${o.seed}-${current}`);
      mkdirSync(o.findings, { recursive: true });
      cpSync(join(work, 'case'), keep, { recursive: true });
      findings.push({ index: current, entry: '?', label: `case folder ${keep}`, problem: killedFor ?? `worker died (exit ${code})` });
      next = current + 1;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { executions, findings, statuses, seconds: (Date.now() - started) / 1000 };
}

if (import.meta.filename === resolve(process.argv[1] ?? '')) {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string', default: '1' },
      start: { type: 'string', default: '0' },
      count: { type: 'string', default: '10000' },
      'time-limit': { type: 'string', default: '10000' },
      'rss-limit': { type: 'string', default: '1024' },
      'readelf-every': { type: 'string', default: '25' },
      findings: { type: 'string', default: 'fuzz-findings' },
      kinds: { type: 'string', default: caseKinds.join(',') },
    },
  });
  const o: FuzzOptions = {
    seed: Number(values.seed),
    start: Number(values.start),
    count: Number(values.count),
    timeLimitMs: Number(values['time-limit']),
    rssLimitMb: Number(values['rss-limit']),
    readelfEvery: Number(values['readelf-every']),
    findings: resolve(values.findings),
    kinds: values.kinds.split(',') as CaseKind[],
    progress: (done, n) => process.stderr.write(`${done} executions, ${n} findings\n`),
  };
  const r = await runFuzz(o);
  for (const f of r.findings) process.stdout.write(`finding: case ${f.index} (${f.entry}, ${f.label}): ${f.problem}\n`);
  const byStatus = Object.entries(r.statuses)
    .sort()
    .map(([k, v]) => `  ${k}: ${v}`)
    .join('\n');
  process.stdout.write(
    `seed ${o.seed}: ${r.executions} executions in ${r.seconds.toFixed(0)} s, ${r.findings.length} findings${r.findings.length ? ` (inputs in ${o.findings})` : ''}\n${byStatus}\n`,
  );
  process.exitCode = r.findings.length > 0 ? 1 : 0;
}

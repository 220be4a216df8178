/**
 * A vmlinux's symbols, read on this thread or on a worker thread while this one reads the modules:
 * the two are independent, and on a whole kernel each is a few hundred milliseconds.
 */
import { extname } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ElfError, type ElfErrorKind } from '../elf/errors.js';
import { FileSource } from '../elf/file-source.js';
import { ElfReader } from '../elf/reader.js';
import { describe } from '../io/atomic-write.js';
import { addVmlinuxSymbols, vmlinuxRelease } from './elf-symbols.js';
import { KernelDataError } from './errors.js';
import { kallsymsRulesFor } from './kallsyms-rules.js';
import { ObjectSymbols, type ObjectSymbolsData, VMLINUX } from './symbol-map.js';

export interface VmlinuxSymbols {
  symbols: ObjectSymbols;
  /** The release given, else the one vmlinux's linux_banner names. */
  release: string | undefined;
}

/** vmlinux's symbols in kallsyms order, by the rules of `release` (else of the release it names). */
export function readVmlinuxSymbols(path: string, release: string | undefined): VmlinuxSymbols {
  let source: FileSource;
  try {
    source = new FileSource(path);
  } catch (e) {
    throw new KernelDataError(`cannot read vmlinux ${path}: ${describe(e)}`);
  }
  try {
    const reader = new ElfReader(source, path);
    const rel = release ?? vmlinuxRelease(reader);
    const symbols = new ObjectSymbols(VMLINUX);
    addVmlinuxSymbols(reader, symbols, kallsymsRulesFor(rel));
    return { symbols, release: rel };
  } finally {
    source.close();
  }
}

/** What the worker sends back: the table, or the error to throw here, as it was. */
export type WorkerReply =
  | { ok: true; symbols: ObjectSymbolsData; release: string | undefined }
  | { ok: false; elf?: { kind: ElfErrorKind; detail: string; file?: string; section?: string }; kernel?: string; other?: string };

/** readVmlinuxSymbols on a worker thread. */
export function readVmlinuxSymbolsAside(path: string, release: string | undefined): Promise<VmlinuxSymbols> {
  // The worker is this file's sibling with this file's extension: .js built, .ts when the tests run
  // the sources under tsx, whose loader Node 20 does not carry into workers (--import runs on the
  // main thread only): that worker registers it before it loads the entry.
  const ext = extname(import.meta.url);
  const entry = new URL(`./vmlinux-worker${ext}`, import.meta.url);
  const workerData = { path, release };
  const worker =
    ext === '.ts'
      ? new Worker(
          `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`,
          { eval: true, workerData },
        )
      : new Worker(entry, { workerData });
  return new Promise((resolve, reject) => {
    worker.once('message', (reply: WorkerReply) => {
      if (reply.ok) resolve({ symbols: ObjectSymbols.fromData(reply.symbols), release: reply.release });
      else if (reply.elf) reject(new ElfError(reply.elf.kind, reply.elf.detail, { file: reply.elf.file, section: reply.elf.section }));
      else if (reply.kernel !== undefined) reject(new KernelDataError(reply.kernel));
      else reject(new Error(`reading ${path} on a worker thread failed: ${reply.other}`));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the worker reading ${path} exited (${code}) without an answer`)));
  });
}

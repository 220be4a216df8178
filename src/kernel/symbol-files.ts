/**
 * Reading a kernel's symbol files (vmlinux and modules) on two threads: this one and a worker,
 * which share one counter of the module list and each take the next module from it, so neither
 * waits while the other has work. A whole Debian kernel is 4,000 modules and a vmlinux of 150,000
 * symbols; the worker reads vmlinux first, this thread starts on the modules at once.
 */
import { extname } from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ElfError, type ElfErrorKind } from '../elf/errors.js';
import { FileSource, ReadScratch } from '../elf/file-source.js';
import { ElfReader } from '../elf/reader.js';
import { describe } from '../io/atomic-write.js';
import { addVmlinuxSymbols, readModuleSymbols, vmlinuxRelease } from './elf-symbols.js';
import { KernelDataError } from './errors.js';
import { kallsymsRulesFor } from './kallsyms-rules.js';
import { openModule } from './module-files.js';
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

/** Each thread's blocks for the modules it reads, one after the other. */
const scratch = new ReadScratch();

/** A module that could not be read: the one-line reason, naming the file. */
export interface ModuleProblem {
  problem: string;
}

/** One module's symbols, or why they cannot be read; anything but a problem with the file is thrown. */
async function readModuleFile(path: string): Promise<ObjectSymbols | ModuleProblem> {
  try {
    const { reader, close } = await openModule(path, scratch);
    try {
      return readModuleSymbols(reader, path);
    } finally {
      close();
    }
  } catch (e) {
    if (e instanceof ElfError) return { problem: e.inFile(path).message };
    if (e instanceof KernelDataError) return { problem: e.message };
    throw e;
  }
}

/** Counter words shared by the two threads: the next module to take, and whether to stop taking. */
const NEXT = 0;
const STOP = 1;

/**
 * Take modules from the shared counter until none is left, or one fails and `keepGoing` is off
 * (then the other thread stops too; every module before the failed one has been taken, so the
 * first failure in file order is among those read).
 */
async function readShare(
  files: string[],
  counter: Int32Array,
  keepGoing: boolean,
  out: Map<number, ObjectSymbols | ModuleProblem>,
  progress?: (done: number, total: number) => void,
) {
  while (Atomics.load(counter, STOP) === 0) {
    const i = Atomics.add(counter, NEXT, 1);
    if (i >= files.length) break;
    const read = await readModuleFile(files[i]);
    out.set(i, read);
    if ('problem' in read && !keepGoing) Atomics.store(counter, STOP, 1);
    // Both threads' modules: all those taken, less the one the other thread may be reading.
    progress?.(Math.max(i, Math.min(Atomics.load(counter, NEXT), files.length) - 1), files.length);
  }
}

export interface SymbolFiles {
  vmlinux?: VmlinuxSymbols;
  /** Per module file, in the order given: its symbols, or why they cannot be read. */
  modules: (ObjectSymbols | ModuleProblem | undefined)[];
}

/**
 * vmlinux's symbols and each module's, read on this thread and a worker. A module not reached
 * (after a failure without `keepGoing`) is undefined. `here` false leaves every module to the
 * worker (tests: which thread takes which module depends on timing).
 */
export async function readSymbolFiles(
  vmlinux: string | undefined,
  release: string | undefined,
  files: string[],
  keepGoing: boolean,
  progress?: (done: number, total: number) => void,
  here = true,
): Promise<SymbolFiles> {
  const counter = new Int32Array(new SharedArrayBuffer(8));
  const work = (vmlinux ? 1 : 0) + files.length;
  const aside =
    work > 1 || !here
      ? startWorker({ symbolFiles: true, vmlinux, release, files, counter: counter.buffer as SharedArrayBuffer, keepGoing })
      : undefined;
  // Settled later; a failure here first must not leave it unhandled.
  aside?.catch(() => {});
  const mine = new Map<number, ObjectSymbols | ModuleProblem>();
  let read: VmlinuxSymbols | undefined;
  try {
    if (vmlinux && !aside) read = readVmlinuxSymbols(vmlinux, release);
    if (here) await readShare(files, counter, keepGoing, mine, progress);
  } catch (e) {
    Atomics.store(counter, STOP, 1);
    throw e;
  }
  const theirs = aside ? await aside : undefined;
  if (theirs?.vmlinux) read = { symbols: ObjectSymbols.fromData(theirs.vmlinux.symbols), release: theirs.vmlinux.release };
  if (files.length > 0) progress?.(files.length, files.length);
  const modules = files.map((_, i) => mine.get(i));
  for (const m of theirs?.modules ?? []) modules[m.index] = 'problem' in m ? { problem: m.problem } : ObjectSymbols.fromData(m.symbols);
  return { vmlinux: read, modules };
}

interface WorkerTask {
  /** Tells this file, loaded as a worker, that it is one. */
  symbolFiles: true;
  vmlinux: string | undefined;
  release: string | undefined;
  files: string[];
  counter: SharedArrayBuffer;
  keepGoing: boolean;
}

/** What the worker sends back: its share, or the error to throw here, as it was. */
type WorkerReply =
  | {
      ok: true;
      vmlinux?: { symbols: ObjectSymbolsData; release: string | undefined };
      modules: ({ index: number; problem: string } | { index: number; symbols: ObjectSymbolsData })[];
    }
  | { ok: false; elf?: { kind: ElfErrorKind; detail: string; file?: string; section?: string }; kernel?: string; other?: string };

function startWorker(task: WorkerTask): Promise<Extract<WorkerReply, { ok: true }>> {
  // The worker is this file: .js built, .ts when the tests run the sources under tsx, whose loader
  // Node 20 does not carry into workers (--import runs on the main thread only): that worker
  // registers it before it loads this file.
  const self = import.meta.url;
  const worker =
    extname(self) === '.ts'
      ? new Worker(
          `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(self)}); })`,
          { eval: true, workerData: task },
        )
      : new Worker(new URL(self), { workerData: task });
  return new Promise((resolve, reject) => {
    worker.once('message', (reply: WorkerReply) => {
      // Settled once the worker is gone, so that it holds no thread or descriptor after the read.
      worker.removeAllListeners('exit');
      void worker.terminate().then(() => {
        if (reply.ok) resolve(reply);
        else if (reply.elf) reject(new ElfError(reply.elf.kind, reply.elf.detail, { file: reply.elf.file, section: reply.elf.section }));
        else if (reply.kernel !== undefined) reject(new KernelDataError(reply.kernel));
        else reject(new Error(`reading symbol files on a worker thread failed: ${reply.other}`));
      });
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the worker reading symbol files exited (${code}) without an answer`)));
  });
}

/** The worker's side: vmlinux first, then modules from the shared counter. */
async function workerMain(task: WorkerTask, reply: (r: WorkerReply, transfer?: ArrayBuffer[]) => void): Promise<void> {
  const counter = new Int32Array(task.counter);
  try {
    const transfer: ArrayBuffer[] = [];
    const take = (o: ObjectSymbols): ObjectSymbolsData => {
      const d = o.toData();
      transfer.push(...d.transfer);
      return d.data;
    };
    let vmlinux: Extract<WorkerReply, { ok: true }>['vmlinux'];
    if (task.vmlinux) {
      const read = readVmlinuxSymbols(task.vmlinux, task.release);
      vmlinux = { symbols: take(read.symbols), release: read.release };
    }
    const mine = new Map<number, ObjectSymbols | ModuleProblem>();
    await readShare(task.files, counter, task.keepGoing, mine);
    const modules = [...mine].map(([index, m]) => ('problem' in m ? { index, problem: m.problem } : { index, symbols: take(m) }));
    reply({ ok: true, vmlinux, modules }, transfer);
  } catch (e) {
    Atomics.store(counter, STOP, 1);
    if (e instanceof ElfError) reply({ ok: false, elf: { kind: e.kind, detail: e.detail, file: e.file, section: e.section } });
    else if (e instanceof KernelDataError) reply({ ok: false, kernel: e.message });
    else reply({ ok: false, other: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  }
}

if (!isMainThread && (workerData as { symbolFiles?: boolean })?.symbolFiles) {
  const port = parentPort!;
  void workerMain(workerData as WorkerTask, (r, transfer) => port.postMessage(r, transfer ?? []));
}

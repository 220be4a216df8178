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
import { ColumnArena, ObjectSymbols, type ObjectSymbolsData, VMLINUX } from './symbol-map.js';

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
async function readModuleFile(path: string, arena: ColumnArena): Promise<ObjectSymbols | ModuleProblem> {
  try {
    const { reader, close } = await openModule(path, scratch);
    try {
      return readModuleSymbols(reader, path, arena);
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
  const arena = new ColumnArena();
  while (Atomics.load(counter, STOP) === 0) {
    const i = Atomics.add(counter, NEXT, 1);
    if (i >= files.length) break;
    const read = await readModuleFile(files[i], arena);
    out.set(i, read);
    if ('problem' in read && !keepGoing) Atomics.store(counter, STOP, 1);
    // Both threads' modules: all those taken, less the one the other thread may be reading.
    progress?.(Math.max(i, Math.min(Atomics.load(counter, NEXT), files.length) - 1), files.length);
  }
}

export interface SymbolFiles {
  vmlinux?: VmlinuxSymbols;
  /** The module files listed. */
  files: string[];
  /** Per module file, in the order given: its symbols, or why they cannot be read. */
  modules: (ObjectSymbols | ModuleProblem | undefined)[];
}

/**
 * vmlinux's symbols and each module's (the files `listModules` gives), read on this thread and a
 * worker. A module not reached (after a failure without `keepGoing`) is undefined. `here` false
 * leaves every module to the worker (tests: which thread takes which module depends on timing).
 */
export async function readSymbolFiles(
  vmlinux: string | undefined,
  release: string | undefined,
  listModules: () => string[],
  keepGoing: boolean,
  progress?: (done: number, total: number) => void,
  here = true,
): Promise<SymbolFiles> {
  const counter = new Int32Array(new SharedArrayBuffer(8));
  const task: WorkerTask = { symbolFiles: true, vmlinux, release, counter: counter.buffer as SharedArrayBuffer, keepGoing };
  // vmlinux is the worker's whatever the modules: started first, it starts up while they are listed
  // (a whole kernel's 4,000 files), which is most of the time it takes to start.
  let aside = vmlinux ? startWorker(task) : undefined;
  let files: string[];
  try {
    files = listModules();
  } catch (e) {
    aside?.stop();
    throw e;
  }
  if (!aside && (files.length > 1 || !here)) aside = startWorker(task);
  aside?.send(files);
  const mine = new Map<number, ObjectSymbols | ModuleProblem>();
  try {
    if (here) await readShare(files, counter, keepGoing, mine, progress);
  } catch (e) {
    Atomics.store(counter, STOP, 1);
    throw e;
  }
  const theirs = aside ? await aside.reply : undefined;
  const read = theirs?.vmlinux && { symbols: ObjectSymbols.fromData(theirs.vmlinux.symbols), release: theirs.vmlinux.release };
  if (files.length > 0) progress?.(files.length, files.length);
  const modules = files.map((_, i) => mine.get(i));
  for (const m of theirs?.modules ?? []) modules[m.index] = 'problem' in m ? { problem: m.problem } : ObjectSymbols.fromData(m.symbols);
  return { vmlinux: read, files, modules };
}

interface WorkerTask {
  /** Tells this file, loaded as a worker, that it is one. */
  symbolFiles: true;
  vmlinux: string | undefined;
  release: string | undefined;
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

interface WorkerHandle {
  /** Its share, once it has read it. */
  reply: Promise<Extract<WorkerReply, { ok: true }>>;
  /** The module files, whose numbers the shared counter hands out. */
  send(files: string[]): void;
  /** Stop it, unanswered. */
  stop(): void;
}

function startWorker(task: WorkerTask): WorkerHandle {
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
  const reply = new Promise<Extract<WorkerReply, { ok: true }>>((resolve, reject) => {
    worker.once('message', (r: WorkerReply) => {
      // Settled once the worker is gone, so that it holds no thread or descriptor after the read.
      worker.removeAllListeners('exit');
      void worker.terminate().then(() => {
        if (r.ok) resolve(r);
        else if (r.elf) reject(new ElfError(r.elf.kind, r.elf.detail, { file: r.elf.file, section: r.elf.section }));
        else if (r.kernel !== undefined) reject(new KernelDataError(r.kernel));
        else reject(new Error(`reading symbol files on a worker thread failed: ${r.other}`));
      });
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the worker reading symbol files exited (${code}) without an answer`)));
  });
  // Settled later, or never asked for when this thread fails first: not an unhandled rejection.
  reply.catch(() => {});
  return {
    reply,
    send: (files) => worker.postMessage(files),
    stop: () => void worker.terminate(),
  };
}

/** The worker's side: vmlinux first, then modules from the shared counter. */
async function workerMain(task: WorkerTask, reply: (r: WorkerReply, transfer?: ArrayBuffer[]) => void): Promise<void> {
  const counter = new Int32Array(task.counter);
  try {
    // A set: the modules' columns share their arena's blocks, and a buffer listed twice is refused.
    const transfer = new Set<ArrayBuffer>();
    const take = (o: ObjectSymbols): ObjectSymbolsData => {
      const d = o.toData();
      for (const b of d.transfer) transfer.add(b);
      return d.data;
    };
    let vmlinux: Extract<WorkerReply, { ok: true }>['vmlinux'];
    if (task.vmlinux) {
      const read = readVmlinuxSymbols(task.vmlinux, task.release);
      vmlinux = { symbols: take(read.symbols), release: read.release };
    }
    const files = await new Promise<string[]>((resolve) => parentPort!.once('message', resolve));
    const mine = new Map<number, ObjectSymbols | ModuleProblem>();
    await readShare(files, counter, task.keepGoing, mine);
    const modules = [...mine].map(([index, m]) => ('problem' in m ? { index, problem: m.problem } : { index, symbols: take(m) }));
    reply({ ok: true, vmlinux, modules }, [...transfer]);
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

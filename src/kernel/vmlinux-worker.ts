/** Worker thread entry of readVmlinuxSymbolsAside (vmlinux-read.ts). */
import { parentPort, workerData } from 'node:worker_threads';
import { ElfError } from '../elf/errors.js';
import { KernelDataError } from './errors.js';
import { readVmlinuxSymbols, type WorkerReply } from './vmlinux-read.js';

const { path, release } = workerData as { path: string; release: string | undefined };
try {
  const read = readVmlinuxSymbols(path, release);
  const { data, transfer } = read.symbols.toData();
  parentPort!.postMessage({ ok: true, symbols: data, release: read.release } satisfies WorkerReply, transfer);
} catch (e) {
  let reply: WorkerReply;
  if (e instanceof ElfError) reply = { ok: false, elf: { kind: e.kind, detail: e.detail, file: e.file, section: e.section } };
  else if (e instanceof KernelDataError) reply = { ok: false, kernel: e.message };
  else reply = { ok: false, other: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  parentPort!.postMessage(reply);
}

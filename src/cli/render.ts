import { basename } from 'node:path';
import type { CreateReport } from '../create/create.js';
import type { ConvertReport } from '../livepatch/convert.js';
import type { Inspection } from '../livepatch/inspect.js';
import type { VerifyResult } from '../livepatch/verify.js';
import { plural } from './plural.js';

/** What the commands print: the livepatch layer returns data, these turn it into text or JSON. */

export function reportJson(r: ConvertReport, input: string, output: string): unknown {
  return {
    input,
    output,
    module: r.module,
    changed: r.changed,
    alreadyConverted: r.alreadyConverted,
    conversions: r.conversions.map((c) => ({
      symbol: c.symbol,
      moduleSymbol: c.moduleSymbol,
      object: c.object,
      position: c.position,
      klpSymbol: c.klpName,
      resolvedBy: c.how,
      file: c.file || null,
      relocations: c.references.map((ref) => ({
        site: ref.site,
        section: ref.section,
        offset: Number(ref.offset),
        type: ref.type,
        addend: Number(ref.addend),
      })),
    })),
    klpSections: r.klpSections,
    removedSections: r.removedSections,
    warnings: r.warnings,
  };
}

export function renderReport(r: ConvertReport, input: string, output: string, verbose: boolean): string {
  if (r.alreadyConverted) return `${input}: already converted, nothing to do; ${output} is the same module\n`;
  if (!r.changed) return `${input}: no reference needs converting; ${output} is the same module\n`;
  const relocs = r.conversions.reduce((n, c) => n + c.references.length, 0);
  let out = `${output}: ${plural(r.conversions.length, 'symbol')} and ${plural(relocs, 'relocation')} converted (${r.klpSections.join(', ') || 'no relocation'})\n`;
  if (verbose) {
    for (const c of r.conversions) {
      out += `  ${c.klpName}  [${c.how}${c.file ? `, ${c.file}` : ''}]\n`;
      for (const ref of c.references) out += `      ${ref.site}\n`;
    }
    if (r.removedSections.length > 0) out += `  removed: ${r.removedSections.join(', ')}\n`;
  }
  return out;
}

export function renderInspection(i: Inspection): string {
  const lines: string[] = [];
  lines.push(`${i.file}: ${i.livepatch ? 'livepatch module' : 'module (not a livepatch: no livepatch= in .modinfo)'} '${i.module}'`);
  if (i.vermagic) lines.push(`  vermagic: ${i.vermagic}`);
  if (i.objects.length === 0) lines.push('', 'No livepatch relocations.');
  for (const o of i.objects) {
    const count = o.sections.reduce((n, s) => n + s.relocations.length, 0);
    lines.push('', `Livepatch relocations for ${o.object} (${count}):`);
    for (const s of o.sections) {
      lines.push(`  ${s.name}  -> ${s.appliesTo}  flags ${s.flags}`);
      // Not Math.max(...list): a spread of a large section's relocations overflows the call stack.
      const width = s.relocations.reduce((w, r) => Math.max(w, r.site.length), 4);
      for (const r of s.relocations) {
        const t = r.target ? `${r.target.object} ${r.target.symbol},${r.target.position}` : `${r.symbol} (not a livepatch symbol)`;
        const addend = r.addend === 0 ? '' : r.addend > 0 ? ` + ${r.addend}` : ` - ${-r.addend}`;
        lines.push(`    ${r.site.padEnd(width)}  ${r.type.padEnd(15)} ${t}${addend}`);
      }
    }
  }
  if (i.loaderSymbols.length > 0) {
    lines.push('', 'Left to the module loader (must be exported by vmlinux or a module):');
    const width = Math.max(...i.loaderSymbols.map((s) => s.name.length));
    for (const s of i.loaderSymbols) {
      lines.push(
        `  ${s.name.padEnd(width)}  ${s.relocations} relocation${s.relocations === 1 ? '' : 's'}${s.weak ? ', weak' : ''}${s.sites.length ? `  e.g. ${s.sites[0]}` : ''}`,
      );
    }
  }
  if (i.annotations.length > 0) {
    lines.push('', 'Annotations still present (not converted yet):');
    for (const a of i.annotations)
      lines.push(`  ${a.section}: ${a.object} ${a.symbol}${a.position !== null ? `,${a.position}` : ` in ${a.file}`}`);
  }
  return `${lines.join('\n')}\n`;
}

export function renderVerification(file: string, result: VerifyResult): string {
  if (result.findings.length === 0) {
    return `${file}: OK: ${plural(result.livepatchSymbols, 'livepatch symbol')}, ${plural(result.livepatchRelocations, 'livepatch relocation')} resolve as intended\n`;
  }
  let out = `${file}: ${plural(result.findings.length, 'problem')}; the kernel would refuse it or bind it wrongly:\n`;
  for (const f of result.findings) out += `  [${f.rule}] ${f.site}: ${f.message}\n`;
  return out;
}

const REASONS: Record<string, string> = {
  edited: 'edited directly',
  'clone-of-edited': 'a clone GCC made of an edited function',
  'inlined-callee-changed': 'a callee inlined into it changed',
  'cold-part-changed': 'its .cold part changed',
  new: 'new function',
};

/** What `create` replaced and why, one line per function, then the module written. */
export function renderCreateReport(report: CreateReport, out: string | undefined): string {
  let text = '';
  for (const f of report.functions) {
    const old = f.oldName === null ? '' : ` replaces ${f.object} ${f.oldName}${f.sympos ? `,${f.sympos}` : ''}`;
    const via = f.via.length > 0 && f.reason !== 'edited' ? ` (${f.via.join(', ')})` : '';
    const shipped =
      f.shipped === 'differs'
        ? ' [warning: the rebuilt original differs from the shipped code]'
        : f.shipped === 'identical'
          ? ' [rebuilt original = shipped code]'
          : '';
    text += `${f.unit}: ${f.name}${old}: ${REASONS[f.reason]}${via}${shipped}\n`;
  }
  if (out) text += `${out}: ${basename(out)} written and verified\n`;
  return text;
}

export function renderCreateJson(report: CreateReport, out: string | undefined): string {
  return `${JSON.stringify({ module: report.module, release: report.release, output: out ?? null, functions: report.functions, externals: report.externals }, null, 2)}\n`;
}

import { UserError } from '../errors.js';

/**
 * What went wrong, for callers that react differently: a malformed input (`format`), an edit that
 * would leave the object inconsistent (`modify`), or a file that cannot be written (`write`).
 */
export type ElfErrorKind = 'format' | 'modify' | 'write';

export interface ElfErrorPlace {
  /** File the problem was found in, when known. */
  file?: string;
  /** Section name (or `[index]` when the name is unknown). */
  section?: string;
}

/**
 * Every problem the ELF layer reports. The message names the place first (file, then section), so
 * the CLI can print it as the one line a user needs.
 */
export class ElfError extends UserError {
  readonly kind: ElfErrorKind;
  readonly file: string | undefined;
  readonly section: string | undefined;
  readonly detail: string;

  constructor(kind: ElfErrorKind, detail: string, place: ElfErrorPlace = {}) {
    const where = [place.file, place.section !== undefined ? `section ${place.section}` : undefined]
      .filter((p) => p !== undefined)
      .join(': ');
    super(where ? `${where}: ${detail}` : detail);
    this.name = 'ElfError';
    this.kind = kind;
    this.file = place.file;
    this.section = place.section;
    this.detail = detail;
  }

  /** The same error, now also naming the file (readers learn the file name late). */
  inFile(file: string): ElfError {
    if (this.file !== undefined) return this;
    return new ElfError(this.kind, this.detail, { file, section: this.section });
  }
}

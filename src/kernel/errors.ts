import { UserError } from '../errors.js';

/** A problem with kernel data a user supplied (symbol sources, maps, Module.symvers): one line, actionable. */
export class KernelDataError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'KernelDataError';
  }
}

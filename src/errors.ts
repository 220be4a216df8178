/**
 * A failure whose message is written for the user (bad input, refused conversion, failed build):
 * the CLI prints it as it is, on one line, with exit status 1. Anything else is a bug. It sits
 * outside every layer so that each (ELF, io, kernel, livepatch, build) can extend it without
 * knowing about the CLI.
 */
export class UserError extends Error {}

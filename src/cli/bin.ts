import { main } from './main.js';

// A reader that stops early (`klp-convert inspect --json | head`) closes the pipe: stop quietly
// with the status of a command killed by SIGPIPE (128 + 13), as other command-line tools do.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit(141);
});

process.exitCode = await main(process.argv.slice(2));

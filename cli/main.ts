#!/usr/bin/env node
/**
 * The `scrooge` command. Every failure is one line on stderr and a non-zero
 * exit (2 for usage errors, 1 otherwise); stack traces only with
 * SCROOGE_DEBUG=1.
 */
import { isScroogeError } from '../base/errors.js';
import { NEIGHBORS_HELP, neighbors, STATUS_HELP, status, UP_HELP, up } from './daemon.js';
import { DEMO_HELP, demo } from '../tools/demo/demo.js';
import { DOCTOR_HELP, doctor } from './doctor.js';
import { VERSION } from '../src/version.js';
import { INSPECT_HELP, inspect, KEYGEN_HELP, keygen } from './keys.js';
import { ACCOUNTING_HELP, accounting, SET_HELP, set } from './traffic.js';

type Command = { run: (args: string[]) => number | Promise<number>; help: string; summary: string };

const commands: Record<string, Command> = {
  up: { run: up, help: UP_HELP, summary: 'run a mesh node (foreground)' },
  status: { run: status, help: STATUS_HELP, summary: "show the running daemon's state" },
  neighbors: { run: neighbors, help: NEIGHBORS_HELP, summary: 'list neighbours and their tunnels' },
  set: { run: set, help: SET_HELP, summary: 'change weight, rate, share, capacity or scheduler at run time' },
  accounting: { run: accounting, help: ACCOUNTING_HELP, summary: 'bytes and packets per neighbour (for billing)' },
  doctor: { run: doctor, help: DOCTOR_HELP, summary: 'check this machine for everything a node needs' },
  keygen: { run: keygen, help: KEYGEN_HELP, summary: 'create an identity key' },
  demo: { run: demo, help: DEMO_HELP, summary: 'a live mesh in network namespaces on this machine (root)' },
  inspect: { run: inspect, help: INSPECT_HELP, summary: 'show a key and the names derived from it' },
};

function usage(): string {
  const rows = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(12)}${c.summary}`);
  return `usage: scrooge <command> [options]\n\ncommands:\n${rows.join('\n')}\n\nscrooge <command> --help shows a command's options.`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    process.stdout.write(`scrooge ${VERSION}\n`);
    return 0;
  }
  const command = commands[name];
  if (command === undefined) {
    process.stderr.write(`scrooge: unknown command "${name}" (see scrooge --help)\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.help}\n`);
    return 0;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (process.env.SCROOGE_DEBUG === '1') console.error(e);
    if (isScroogeError(e)) {
      process.stderr.write(`scrooge: ${e.message}\n`);
      process.exitCode = ['ERR_USAGE', 'ERR_CONFIG', 'ERR_INVALID_ARGUMENT'].includes(e.code) ? 2 : 1;
    } else {
      process.stderr.write(`scrooge: internal error: ${(e as Error)?.message ?? String(e)}\n`);
      process.exitCode = 1;
    }
  },
);

/** `scrooge set …` and `scrooge accounting`. */
import { ControlError } from '../src/errors.js';
import { apiRequest } from '../src/api.js';
import { socketPath } from './daemon.js';
import { flag, type OptionSpec, parseFlags, printJson, table } from '../src/flags.js';

const OPTIONS: OptionSpec = { api: { type: 'string' }, 'state-dir': { type: 'string' }, json: { type: 'boolean' } };

export const SET_HELP = `usage: scrooge set weight PUBKEY N            priority of a neighbour (default 1)
       scrooge set rate PUBKEY RATE|none      cap a neighbour (e.g. 20mbit)
       scrooge set share F                    fraction of capacity for neighbours (0-1)
       scrooge set capacity RATE|none         bandwidth per direction (e.g. 100mbit)
       scrooge set scheduler NAME             wtb-drr, priority or fifo
  options: [--json] [--api PATH | --state-dir DIR]

Changes a running daemon's traffic control; effective at once, no restart.
Settings made here last until the daemon stops (put them in the config file to keep them).`;

export async function set(args: string[]): Promise<number> {
  const p = parseFlags('set', args, OPTIONS, 3);
  const [what, a, b] = p.positionals;
  let body: Record<string, unknown>;
  switch (what) {
    case 'weight':
    case 'rate':
      if (a === undefined || b === undefined)
        throw new ControlError('ERR_USAGE', `set ${what}: expected PUBKEY and a value`);
      body = { [what]: { key: a, value: b } };
      break;
    case 'share':
    case 'capacity':
    case 'scheduler':
      if (a === undefined || b !== undefined) throw new ControlError('ERR_USAGE', `set ${what}: expected one value`);
      body = { [what]: a };
      break;
    default:
      throw new ControlError(
        'ERR_USAGE',
        `set: expected weight, rate, share, capacity or scheduler, got ${JSON.stringify(what ?? '')}`,
      );
  }
  const r = await apiRequest(socketPath(p), 'POST', '/v1/set', body);
  if (flag(p, 'json')) printJson(r);
  else process.stdout.write(`${what} set\n`);
  return 0;
}

export const ACCOUNTING_HELP = `usage: scrooge accounting [--json] [--reset] [--api PATH | --state-dir DIR]

Bytes and packets each way per neighbour since the daemon started (or the
last --reset), for billing: inner bytes (what the tunnel carried) and wire
bytes (every datagram including tunnel overhead and outer IP/UDP headers).
--reset reads and zeroes in one step, so nothing is counted twice or lost.`;

export async function accounting(args: string[]): Promise<number> {
  const p = parseFlags('accounting', args, { ...OPTIONS, reset: { type: 'boolean' } }, 0);
  const r = (await apiRequest(socketPath(p), 'GET', `/v1/accounting${flag(p, 'reset') ? '?reset=1' : ''}`)) as {
    since: string;
    until: string;
    neighbors: Array<{ publicKey: string; rx: Record<string, number>; tx: Record<string, number> }>;
    evicted?: { keys: number; rx: Record<string, number>; tx: Record<string, number> } | null;
  };
  if (flag(p, 'json')) {
    printJson(r);
    return 0;
  }
  const entries = r.evicted
    ? [...r.neighbors, { publicKey: `(${r.evicted.keys} departed keys merged)`, rx: r.evicted.rx, tx: r.evicted.tx }]
    : r.neighbors;
  const rows = entries.map((n) => [
    n.publicKey,
    String(n.rx.bytes),
    String(n.rx.packets),
    String(n.rx.wireBytes),
    String(n.tx.bytes),
    String(n.tx.packets),
    String(n.tx.wireBytes),
  ]);
  process.stdout.write(`from ${r.since} to ${r.until}${flag(p, 'reset') ? ' (now reset)' : ''}\n`);
  process.stdout.write(
    `${table(['NEIGHBOUR', 'RX BYTES', 'RX PKTS', 'RX WIRE BYTES', 'TX BYTES', 'TX PKTS', 'TX WIRE BYTES'], rows)}\n`,
  );
  return 0;
}

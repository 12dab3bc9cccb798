/** `scrooge up`, and the commands that talk to a running daemon. */
import { ControlError } from '../src/errors.js';
import { join } from 'node:path';
import { apiRequest } from '../src/api.js';
import type { Logger } from '../dataplane/log.js';
import { type DaemonConfig, loadConfig, SETTINGS, upFlagOptions } from '../src/config.js';
import { describe, runChecks } from '../src/doctor.js';
import { Daemon, type NeighborInfo } from '../src/daemon.js';
import { createLogger } from '../src/log.js';
import { DEFAULT_STATE_DIR } from '../src/state.js';
import { flag, type OptionSpec, type Parsed, parseFlags, printJson, str, table } from '../src/flags.js';

export const UP_HELP = `usage: scrooge up [--config FILE] [options]

Runs a mesh node in the foreground until SIGINT/SIGTERM (then removes its TUN
devices and firewall table and exits 0). Every option can also be set in the
JSON config file under the key shown; flags override the file.

${SETTINGS.map((s) => `  ${(s.fileOnly ? `(file) ${s.key}` : `--${s.flag}${s.kind === 'boolean' ? '' : ' VALUE'}`).padEnd(26)} ${s.help} [${s.def ?? ''}]${s.fileOnly ? '' : `  (file: ${s.key})`}`).join('\n')}`;

export async function up(args: string[]): Promise<number> {
  const p = parseFlags('up', args, upFlagOptions(), 0);
  const cfg = loadConfig(p.values);
  const log = createLogger({ level: cfg.logLevel, format: cfg.logFormat });
  await preflight(cfg, log);
  const daemon = await Daemon.start(cfg, log);
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.on('uncaughtException', (e) => {
      log.error('internal error; shutting down, leaving the forwarding filter in place', {
        error: e.stack ?? String(e),
      });
      resolve('internal error');
    });
  });
  // Only a signal is a clean stop: an internal error leaves the forwarding filter in place.
  await daemon.stop(signal, { keepFilter: signal === 'internal error' });
  return signal === 'internal error' ? 1 : 0;
}

/** scrooge doctor's checks: a failure refuses to start with doctor's words; a warning is logged. */
async function preflight(cfg: DaemonConfig, log: Logger): Promise<void> {
  if (process.env.SCROOGE_SKIP_PREFLIGHT === '1') {
    log.warn('start-up checks skipped (SCROOGE_SKIP_PREFLIGHT=1)');
    return;
  }
  const results = await runChecks(cfg);
  for (const r of results) if (r.status === 'warn') log.warn(describe(r), { check: r.id });
  const failed = results.filter((r) => r.status === 'fail');
  if (failed.length > 0) {
    throw new ControlError(
      'ERR_PREFLIGHT',
      `cannot start:\n${failed.map((r) => `  ${describe(r)}`).join('\n')}\n(scrooge doctor checks everything; SCROOGE_SKIP_PREFLIGHT=1 skips these checks)`,
    );
  }
}

const CLIENT_OPTIONS: OptionSpec = {
  api: { type: 'string' },
  'state-dir': { type: 'string' },
  json: { type: 'boolean' },
};

export function socketPath(p: Parsed): string {
  return str(p, 'api') ?? join(str(p, 'state-dir') ?? DEFAULT_STATE_DIR, 'scrooge.sock');
}

function ago(iso: string | null): string {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

function bytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

function duration(sec: number): string {
  const h = Math.floor(sec / 3600);
  const m = Math.floor((sec % 3600) / 60);
  return h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${sec % 60}s` : `${sec}s`;
}

export const STATUS_HELP = `usage: scrooge status [--json] [--api PATH | --state-dir DIR]

Shows the running daemon: identity, interfaces, neighbour counts, traffic
control and the forwarding filter.`;

export async function status(args: string[]): Promise<number> {
  const p = parseFlags('status', args, CLIENT_OPTIONS, 0);
  const s = (await apiRequest(socketPath(p), 'GET', '/v1/status')) as Record<string, unknown>;
  if (flag(p, 'json')) {
    printJson(s);
    return 0;
  }
  const ifaces = (s.interfaces as Array<{ name: string; present: boolean; up: boolean; mtu: number | null }>)
    .map((i) => `${i.name} (${!i.present ? 'absent' : i.up ? `up, mtu ${i.mtu}` : 'down'})`)
    .join(', ');
  const nb = s.neighbors as { total: number; up: number; max: number };
  const lines = [
    `scrooge ${String(s.version)}  pid ${String(s.pid)}  running ${duration(s.uptimeSeconds as number)}  crypto ${String(s.crypto)}`,
    `key          ${String(s.publicKey)}`,
    `link-local   ${String(s.linkLocal)}`,
    `interfaces   ${ifaces}`,
    `neighbours   ${nb.up} up of ${nb.total} (max ${nb.max})`,
  ];
  for (const extra of (s.summary as string[] | undefined) ?? []) lines.push(extra);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

export const NEIGHBORS_HELP = `usage: scrooge neighbors [--json] [--api PATH | --state-dir DIR]

One row per (neighbour, interface) link. --json prints an array of objects
with publicKey, interface, linkLocal, tun, state, endpoint, lastHandshake,
rx/tx {bytes, packets, drops}, drops by reason, weight, rate and queues.`;

export async function neighbors(args: string[]): Promise<number> {
  const p = parseFlags('neighbors', args, CLIENT_OPTIONS, 0);
  const list = (await apiRequest(socketPath(p), 'GET', '/v1/neighbors')) as Array<
    NeighborInfo & { weight?: number; rate?: string | null }
  >;
  if (flag(p, 'json')) {
    printJson(list);
    return 0;
  }
  if (list.length === 0) {
    process.stdout.write('no neighbours yet\n');
    return 0;
  }
  const rows = list.map((n) => [
    `${n.publicKey.slice(0, 12)}…`,
    n.interface,
    n.state,
    n.tun ?? '-',
    n.endpoint ?? '-',
    ago(n.lastHandshake),
    `${bytes(n.rx.bytes)}/${n.rx.packets}`,
    `${bytes(n.tx.bytes)}/${n.tx.packets}`,
    `${n.rx.drops}/${n.tx.drops}`,
    n.weight === undefined ? '-' : String(n.weight),
    n.rate ?? '-',
  ]);
  process.stdout.write(
    `${table(['NEIGHBOUR', 'IFACE', 'STATE', 'TUN', 'ENDPOINT', 'HANDSHAKE', 'RX (B/pkts)', 'TX (B/pkts)', 'DROPS rx/tx', 'WEIGHT', 'RATE'], rows)}\n`,
  );
  return 0;
}

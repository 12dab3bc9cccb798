/**
 * The forwarding filter (DESIGN.md, "Forwarding filter"): scrooge owns one
 * nftables table, `inet scrooge`, and touches nothing else (never
 * `flush ruleset`).
 *
 *   mesh    (default) drop every forwarded packet that came in raw on a mesh
 *           interface; what arrives decrypted on a tunnel device may be
 *           forwarded; everything else is left to the rest of the firewall.
 *   strict  additionally drop every forwarded packet whose input interface is
 *           not one of our tunnel devices.
 *   off     install nothing.
 *
 * The table is installed in one `nft -f` transaction that also replaces a
 * table left by a crashed daemon; interfaces live in named sets, so a tunnel
 * device coming or going is one set-element change (rules and counters stay);
 * clean shutdown deletes the table. Anything else (an internal error, a
 * signal we do not handle, kill -9) leaves it in place: the filter fails
 * closed, and the next start replaces it.
 */

import { ControlError } from './errors.js';
import { execFile, spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../dataplane/log.js';
import type { ForwardingMode } from './config.js';
import { LIMITS } from './limits.js';
import { findSystemBinary } from './system.js';

export const TABLE = 'scrooge';

export interface DropCounter {
  packets: number;
  bytes: number;
}

export interface FilterCounters {
  meshDropped: DropCounter;
  strictDropped: DropCounter;
}

function q(name: string): string {
  if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(name))
    throw new ControlError('ERR_NFTABLES', `bad interface name ${JSON.stringify(name)}`);
  return `"${name}"`;
}

/** The whole table, as one nft transaction that also replaces an existing one. */
export function tableRuleset(mode: Exclude<ForwardingMode, 'off'>, meshIfaces: string[], tunnels: string[]): string {
  const elements = (xs: string[]) => (xs.length > 0 ? `\t\telements = { ${xs.map(q).join(', ')} }\n` : '');
  return (
    `table inet ${TABLE}\n` +
    `delete table inet ${TABLE}\n` +
    `table inet ${TABLE} {\n` +
    `\tcomment "managed by scrooge: forward only what came through a tunnel (do not edit)"\n` +
    `\tset mesh_ifaces {\n\t\ttype ifname\n${elements(meshIfaces)}\t}\n` +
    `\tset tunnel_ifaces {\n\t\ttype ifname\n${elements(tunnels)}\t}\n` +
    `\tcounter mesh_dropped {\n\t}\n` +
    `\tcounter strict_dropped {\n\t}\n` +
    `\tchain forward {\n` +
    `\t\ttype filter hook forward priority filter; policy accept;\n` +
    `\t\tiifname @mesh_ifaces counter name "mesh_dropped" drop\n` +
    (mode === 'strict' ? `\t\tiifname != @tunnel_ifaces counter name "strict_dropped" drop\n` : '') +
    `\t}\n` +
    `}\n`
  );
}

/** nft's error output, with the likely cause when it is a missing kernel feature or privilege. */
export function explainNft(stderr: string): string {
  const s = stderr.trim();
  if (
    /Operation not supported|Protocol not supported|No such file or directory.*(netlink|process)/i.test(s) ||
    /Could not process rule: No such file/.test(s)
  ) {
    return `${s}\n(the kernel seems to lack nf_tables: load it with modprobe nf_tables, or run with --forwarding off)`;
  }
  if (/Operation not permitted/.test(s)) return `${s}\n(nftables needs root or CAP_NET_ADMIN)`;
  return s;
}

export class ForwardingFilter {
  private readonly nft: string | undefined;
  private readonly tunnels = new Set<string>();
  private installed = false;
  private queue: Promise<void> = Promise.resolve();
  /** One `nft list counters` at a time; its answer serves every caller for a while. */
  private countersInFlight: Promise<FilterCounters | undefined> | undefined;
  private countersCache: { at: number; value: FilterCounters | undefined } | undefined;

  constructor(
    readonly mode: ForwardingMode,
    private readonly meshIfaces: string[],
    private readonly log: Logger,
    /** Path of nft; null = not installed (the default looks it up). */
    nftPath: string | null = findSystemBinary('nft') ?? null,
  ) {
    this.nft = nftPath ?? undefined;
  }

  /** Installs (or atomically replaces) the table. Throws a ScroogeError that says what is missing. */
  start(): void {
    if (this.mode === 'off') {
      this.log.warn(
        'forwarding filter off (--forwarding off): scrooge installs no nftables rules; neighbours can send raw packets to be forwarded unless your own firewall stops them',
      );
      return;
    }
    if (!this.nft) {
      throw new ControlError(
        'ERR_NFTABLES',
        'nftables (nft) is not installed: install it (Debian: apt-get install nftables) or run with --forwarding off if you manage the firewall yourself',
      );
    }
    const existed = spawnSync(this.nft, ['list', 'table', 'inet', TABLE], { encoding: 'utf8' }).status === 0;
    this.load(tableRuleset(this.mode, this.meshIfaces, [...this.tunnels]));
    this.installed = true;
    this.log.info(
      existed ? 'forwarding filter replaced a table left from an earlier run' : 'forwarding filter installed',
      {
        mode: this.mode,
        table: `inet ${TABLE}`,
        meshInterfaces: this.meshIfaces.join(','),
      },
    );
  }

  private load(ruleset: string): void {
    // from stdin: no script file to leave behind when the process is killed
    const r = spawnSync(this.nft as string, ['-f', '-'], { input: ruleset, encoding: 'utf8' });
    if (r.status !== 0) {
      throw new ControlError(
        'ERR_NFTABLES',
        `cannot install the nftables table inet ${TABLE}: ${explainNft(r.stderr || r.error?.message || '')}`,
      );
    }
  }

  /** Runs one nft command after the ones before it (never blocks the event loop). */
  private enqueue(args: string[], what: string): Promise<void> {
    const run = () =>
      new Promise<void>((resolve) => {
        execFile(this.nft as string, args, (err, _out, stderr) => {
          if (err) this.log.warn(`nftables: cannot ${what}`, { error: explainNft(stderr || err.message) });
          resolve();
        });
      });
    this.queue = this.queue.then(run);
    return this.queue;
  }

  addTunnel(name: string): Promise<void> {
    this.tunnels.add(name);
    if (!this.installed) return Promise.resolve();
    return this.enqueue(
      ['add', 'element', 'inet', TABLE, 'tunnel_ifaces', `{ ${q(name)} }`],
      `add ${name} to tunnel_ifaces`,
    );
  }

  removeTunnel(name: string): Promise<void> {
    if (!this.tunnels.delete(name) || !this.installed) return Promise.resolve();
    return this.enqueue(
      ['delete', 'element', 'inet', TABLE, 'tunnel_ifaces', `{ ${q(name)} }`],
      `remove ${name} from tunnel_ifaces`,
    );
  }

  /**
   * Drop counters (undefined when the filter is off or the table is gone).
   * Every admin and metrics request asks for them: at most one `nft` runs at
   * a time, and an answer is reused for LIMITS.filterCountersCacheMs, so no
   * number of requests spawns more than one process per that interval.
   */
  counters(nowMs = performance.now()): Promise<FilterCounters | undefined> {
    if (!this.installed) return Promise.resolve(undefined);
    const cached = this.countersCache;
    if (cached && nowMs - cached.at < LIMITS.filterCountersCacheMs) return Promise.resolve(cached.value);
    if (this.countersInFlight) return this.countersInFlight;
    const p = new Promise<FilterCounters | undefined>((resolve) => {
      execFile(this.nft as string, ['-j', 'list', 'counters', 'table', 'inet', TABLE], (err, out) => {
        if (err) return resolve(undefined);
        try {
          const j = JSON.parse(out) as {
            nftables: Array<{ counter?: { name: string; packets: number; bytes: number } }>;
          };
          const get = (n: string): DropCounter => {
            const c = j.nftables.find((x) => x.counter?.name === n)?.counter;
            return { packets: c?.packets ?? 0, bytes: c?.bytes ?? 0 };
          };
          resolve({ meshDropped: get('mesh_dropped'), strictDropped: get('strict_dropped') });
        } catch {
          resolve(undefined);
        }
      });
    }).then((value) => {
      this.countersCache = { at: performance.now(), value };
      this.countersInFlight = undefined;
      return value;
    });
    this.countersInFlight = p;
    return p;
  }

  /** Deletes the table (clean shutdown). */
  async stop(): Promise<void> {
    await this.queue;
    if (this.installed && this.nft) {
      const r = spawnSync(this.nft, ['delete', 'table', 'inet', TABLE], { encoding: 'utf8' });
      if (r.status !== 0) this.log.warn('nftables: cannot delete the table', { error: r.stderr.trim() });
      else this.log.info('forwarding filter removed', { table: `inet ${TABLE}` });
      this.installed = false;
    }
  }

  get active(): boolean {
    return this.installed;
  }
}

/** The sysctls --enable-forwarding sets, and their previous values (restored on clean stop). */
export const FORWARDING_SYSCTLS = ['/proc/sys/net/ipv4/ip_forward', '/proc/sys/net/ipv6/conf/all/forwarding'] as const;

/** Starting real `scrooge up` daemons in lab namespaces and querying their API. */
import { join } from 'node:path';
import { apiRequest } from '../src/api.js';
import type { NeighborInfo } from '../src/daemon.js';
import { CLI } from './paths.js';
import { type Lab, type Proc, waitFor } from './lab.js';

export interface DaemonHandle {
  name: string;
  ns: string;
  stateDir: string;
  api: string;
  proc: Proc;
  args: string[];
  startedAt: number;
}

export type Neighbor = NeighborInfo & { weight?: number; rate?: string | null };

export async function startDaemon(
  lab: Lab,
  ns: string,
  name: string,
  interfaces: string[],
  extra: string[] = [],
  /** command: how to run scrooge (default: this Node on the built CLI). */
  opts: { waitApi?: boolean; command?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<DaemonHandle> {
  const stateDir = join(lab.dir, name);
  const args = [
    'up',
    ...interfaces.flatMap((i) => ['--interface', i]),
    '--state-dir',
    stateDir,
    '--log-level',
    'debug',
    ...extra,
  ];
  const startedAt = Date.now();
  const proc = lab.spawn(ns, [...(opts.command ?? ['node', CLI]), ...args], opts.env ? { env: opts.env } : {});
  const h: DaemonHandle = { name, ns, stateDir, api: join(stateDir, 'scrooge.sock'), proc, args, startedAt };
  if (opts.waitApi ?? true) {
    await waitFor(
      `${name}'s admin API`,
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`${name} exited: ${proc.lines.slice(-5).join(' | ')}`);
        return (await apiRequest(h.api, 'GET', '/v1/status')) as object;
      },
      15_000,
      50,
    );
  }
  return h;
}

/** Restarts a daemon in place (same namespace, state dir, flags). */
export async function restartDaemon(lab: Lab, h: DaemonHandle): Promise<DaemonHandle> {
  const proc = lab.spawn(h.ns, ['node', CLI, ...h.args]);
  const n: DaemonHandle = { ...h, proc, startedAt: Date.now() };
  await waitFor(
    `${h.name}'s admin API after restart`,
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`${h.name} exited: ${proc.lines.slice(-5).join(' | ')}`);
      return (await apiRequest(n.api, 'GET', '/v1/status')) as object;
    },
    15_000,
    50,
  );
  return n;
}

export async function neighbors(h: DaemonHandle): Promise<Neighbor[]> {
  return (await apiRequest(h.api, 'GET', '/v1/neighbors')) as Neighbor[];
}

export async function status(h: DaemonHandle): Promise<Record<string, unknown>> {
  return (await apiRequest(h.api, 'GET', '/v1/status')) as Record<string, unknown>;
}

/** Waits until `h` has exactly `count` links up; returns ms since the daemon started. */
export async function waitUp(h: DaemonHandle, count: number, timeoutMs = 15_000): Promise<number> {
  await waitFor(
    `${h.name}: ${count} neighbour(s) up`,
    async () => {
      const n = await neighbors(h);
      return n.filter((x) => x.state === 'up').length === count;
    },
    timeoutMs,
    25,
  );
  return Date.now() - h.startedAt;
}

/** TUN devices in a namespace. */
export function tunDevices(lab: Lab, ns: string): string[] {
  const out = lab.ip(ns, '-o', 'link', 'show', 'type', 'tun');
  return out
    .split('\n')
    .map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1])
    .filter((x): x is string => x !== undefined);
}

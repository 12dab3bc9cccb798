/**
 * Network-namespace labs (root only): the demo's mesh and the integration
 * tests' topologies.
 *
 * - Every namespace name carries the test process's pid and a counter, so
 *   parallel test files and leftover runs never collide.
 * - veth pairs are created directly inside their namespaces
 *   (`ip link add … netns A type veth peer … netns B`): nothing touches the
 *   root namespace.
 * - Every process is spawned through the lab and killed by its pid on
 *   cleanup; cleanup deletes every namespace (and with it every link).
 * - Readiness is polled (waitFor), never slept.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { findSystemBinary } from '../src/system.js';

/** nftables by absolute path: under npm scripts `nft` on PATH is @vercel/nft's CLI. */
export const NFT = findSystemBinary('nft') ?? '/usr/sbin/nft';

let labCounter = 0;

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Polls `check` until it returns a truthy value or the timeout passes. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | null | Promise<T | undefined | false | null>,
  timeoutMs = 10_000,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface Proc {
  child: ChildProcess;
  pid: number;
  lines: string[];
  stderr: string[];
  /** The process exited and all its output has been read (stdout/stderr closed): parse `lines` after this. */
  exited: Promise<number | null>;
  /** The process exited (its output may still be in flight; a daemonized child can hold the pipes). */
  terminated: Promise<number | null>;
  /** Waits for an output line matching `pred`. */
  waitLine(pred: (line: string) => boolean, timeoutMs?: number, what?: string): Promise<string>;
  send(line: string): void;
}

/**
 * `tc filter add` arguments for a classic-BPF filter that sends packets
 * whose fwmark is `mark` to `classid` (this kernel has no fw/u32 modules):
 * ld mark (SKF_AD_OFF + SKF_AD_MARK = -4096 + 20); jeq mark; ret -1 (use the
 * filter's classid); ret 0.
 */
export function markFilter(dev: string, prio: number, mark: number, classid: string): string[] {
  const bytecode = `4,32 0 0 4294963220,21 0 1 ${mark},6 0 0 4294967295,6 0 0 0`;
  return [
    'filter',
    'add',
    'dev',
    dev,
    'parent',
    '1:',
    'protocol',
    'all',
    'prio',
    String(prio),
    'bpf',
    'bytecode',
    bytecode,
    'classid',
    classid,
  ];
}

export class Lab {
  readonly id: string;
  readonly namespaces: string[] = [];
  /** A scratch directory for this lab (state dirs, captures), removed on cleanup. */
  readonly dir: string;
  private readonly procs: Proc[] = [];
  /** veth ends created by this lab: [namespace, interface]. */
  private readonly ends: Array<[string, string]> = [];

  /** Namespace names are `<prefix><pid><tag><n><name>` (prefix default "sc"). */
  constructor(tag = 't', opts: { prefix?: string } = {}) {
    this.id = `${opts.prefix ?? 'sc'}${process.pid}${tag}${labCounter++}`;
    this.dir = mkdtempSync(join(tmpdir(), `${this.id}-`));
  }

  /** Names of all network namespaces on this machine. */
  static listNamespaces(): string[] {
    const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    return (r.stdout ?? '')
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter(Boolean);
  }

  /** Kills the processes inside a namespace (by the pids the kernel lists) and deletes it. */
  static removeNamespace(ns: string): void {
    const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split(/\s+/).filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }

  /** Creates a namespace (with lo up) and returns its full name. */
  addNs(name: string): string {
    const ns = `${this.id}${name}`;
    if (ns.length > 64) throw new Error('namespace name too long');
    execFileSync('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    this.ip(ns, 'link', 'set', 'lo', 'up');
    return ns;
  }

  /** `ip -n NS …` */
  ip(ns: string, ...args: string[]): string {
    return execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
  }

  /** Runs a command inside a namespace and returns stdout (throws on failure). */
  exec(ns: string, cmd: string[], opts: { input?: string; timeoutMs?: number } = {}): string {
    return execFileSync('ip', ['netns', 'exec', ns, ...cmd], {
      encoding: 'utf8',
      input: opts.input,
      timeout: opts.timeoutMs ?? 60_000,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  }

  /** Like exec but returns status and output instead of throwing. */
  run(ns: string, cmd: string[], timeoutMs = 60_000): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8', timeout: timeoutMs });
    return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** A veth pair between two namespaces, both ends up, optional addresses ("addr/plen"). */
  veth(
    nsA: string,
    ifA: string,
    nsB: string,
    ifB: string,
    opts: { addrA?: string[]; addrB?: string[]; mtu?: number } = {},
  ): void {
    execFileSync('ip', ['link', 'add', ifA, 'netns', nsA, 'type', 'veth', 'peer', ifB, 'netns', nsB]);
    this.ends.push([nsA, ifA], [nsB, ifB]);
    for (const [ns, ifn, addrs] of [
      [nsA, ifA, opts.addrA ?? []],
      [nsB, ifB, opts.addrB ?? []],
    ] as const) {
      if (opts.mtu) this.ip(ns, 'link', 'set', ifn, 'mtu', String(opts.mtu));
      for (const a of addrs) this.ip(ns, 'addr', 'add', a, 'dev', ifn, ...(a.includes(':') ? ['nodad'] : []));
      this.ip(ns, 'link', 'set', ifn, 'up');
    }
  }

  /**
   * Waits until every veth end of the lab has a usable IPv6 link-local
   * address. The kernel adds it only when the link's operstate turns up,
   * which lags link-up by up to a second (linkwatch).
   */
  async ready(timeoutMs = 10_000): Promise<void> {
    for (const [ns, ifn] of this.ends) {
      await waitFor(
        `${ns}/${ifn} link-local`,
        () => {
          const text = this.exec(ns, ['cat', '/proc/net/if_inet6']);
          return text.split('\n').some((l) => {
            const f = l.trim().split(/\s+/);
            return f[5] === ifn && f[3] === '20' && (Number.parseInt(f[4] ?? '0', 16) & 0x48) === 0;
          });
        },
        timeoutMs,
        20,
      );
    }
  }

  /**
   * A placeholder interface (up, no DAD) for daemons that insist on having
   * one (this kernel has no dummy links: it is one end of a veth pair whose
   * other end also stays in `ns`).
   */
  placeholder(ns: string, name: string): void {
    this.ip(ns, 'link', 'add', 'name', name, 'type', 'veth', 'peer', 'name', `${name}p`);
    for (const n of [name, `${name}p`]) {
      this.sysctl(ns, `net.ipv6.conf.${n}.accept_dad`, '0');
      this.ip(ns, 'link', 'set', 'dev', n, 'up');
    }
  }

  sysctl(ns: string, key: string, value: string): void {
    execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `${key}=${value}`]);
  }

  /**
   * Several nodes on one link: a namespace "s" with bridge "br", and for each
   * name x a namespace with veth `v<x>` plugged into the bridge as `p<x>`.
   * Returns the namespaces by name, the bridge's as `s`.
   */
  bridged(names: string[]): Record<string, string> {
    const s = this.addNs('s');
    this.bridge(s, 'br');
    const ns: Record<string, string> = { s };
    for (const x of names) {
      ns[x] = this.addNs(x);
      this.veth(ns[x], `v${x}`, s, `p${x}`);
      this.enslave(s, `p${x}`, 'br');
    }
    return ns;
  }

  /** A bridge in `ns` (for several nodes on one link). */
  bridge(ns: string, name: string): void {
    this.ip(ns, 'link', 'add', 'name', name, 'type', 'bridge');
    this.ip(ns, 'link', 'set', 'dev', name, 'up');
  }

  /** Puts a veth end of `ns` (created with veth()) into bridge `br` living in `brNs`. */
  enslave(brNs: string, port: string, br: string): void {
    this.ip(brNs, 'link', 'set', 'dev', port, 'master', br);
  }

  /**
   * Impairs the egress of `dev` in `ns` without netem (absent on this kernel):
   * `lossPct` % of packets dropped (nftables numgen), `delayedPct` % marked
   * and sent through a slow HTB class (64 kbit, no burst) selected by a
   * classic-BPF filter on the mark, so they arrive late: reordering.
   * The test's own nft table (inet impair) lives in the test namespace.
   */
  impair(ns: string, dev: string, opts: { lossPct: number; delayedPct: number }): void {
    const tc = (...a: string[]) => execFileSync('ip', ['netns', 'exec', ns, 'tc', ...a]);
    tc('qdisc', 'add', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '10', 'r2q', '1000');
    tc('class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '10gbit');
    tc(
      'class',
      'add',
      'dev',
      dev,
      'parent',
      '1:',
      'classid',
      '1:20',
      'htb',
      'rate',
      '64kbit',
      'ceil',
      '64kbit',
      'burst',
      '1',
      'cburst',
      '1',
      'quantum',
      '1600',
    );
    tc(...markFilter(dev, 1, 1, '1:20'));
    const rules = `table inet impair {\n chain post {\n  type filter hook postrouting priority 300;\n  oifname "${dev}" numgen random mod 100 < ${opts.delayedPct} meta mark set 0x1\n }\n chain out {\n  type filter hook postrouting priority 310;\n  oifname "${dev}" numgen random mod 100 < ${opts.lossPct} drop\n }\n}\n`;
    this.nft(ns, rules);
  }

  /**
   * Loads an nft ruleset into a namespace from a file (this nft neither reads
   * `-f -` nor /dev/stdin when stdin is a socket, and exits 0 after saying so).
   */
  nft(ns: string, rules: string): void {
    const file = join(this.dir, `rules-${ns}-${Date.now()}-${Math.random().toString(36).slice(2)}.nft`);
    writeFileSync(file, rules);
    const r = spawnSync('ip', ['netns', 'exec', ns, NFT, '-f', file], { encoding: 'utf8' });
    if (r.status !== 0 || r.stderr.trim() !== '') throw new Error(`nft -f in ${ns} failed: ${r.stderr}`);
  }

  /** Spawns a long-running process in a namespace; killed by pid on cleanup. */
  spawn(ns: string, cmd: string[], opts: { env?: NodeJS.ProcessEnv; stdin?: boolean } = {}): Proc {
    const child = spawn('ip', ['netns', 'exec', ns, ...cmd], {
      stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
    });
    const lines: string[] = [];
    const stderr: string[] = [];
    const waiters: Array<{ pred: (l: string) => boolean; resolve: (l: string) => void }> = [];
    const onLine = (l: string) => {
      lines.push(l);
      for (const w of [...waiters]) {
        if (w.pred(l)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(l);
        }
      }
    };
    if (child.stdout) createInterface({ input: child.stdout }).on('line', onLine);
    if (child.stderr)
      createInterface({ input: child.stderr }).on('line', (l) => {
        stderr.push(l);
        onLine(l);
      });
    // 'close', not 'exit': 'exit' can come before the last of stdout/stderr has been read, and a
    // caller that parses the output after awaiting it (iperf3 -J) then sees nothing ("Unexpected
    // end of JSON input" under load: the flake in tc.integration)
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const terminated = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const proc: Proc = {
      child,
      pid: child.pid ?? -1,
      lines,
      stderr,
      exited,
      terminated,
      waitLine(pred, timeoutMs = 10_000, what = 'an output line') {
        const seen = lines.find(pred);
        if (seen !== undefined) return Promise.resolve(seen);
        return new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => {
            waiters.splice(
              waiters.findIndex((w) => w.resolve === done),
              1,
            );
            reject(new Error(`timed out waiting for ${what}; output so far:\n${lines.slice(-20).join('\n')}`));
          }, timeoutMs);
          const done = (l: string) => {
            clearTimeout(timer);
            resolve(l);
          };
          waiters.push({ pred, resolve: done });
          void exited.then((code) => {
            if (waiters.some((w) => w.resolve === done)) {
              clearTimeout(timer);
              reject(new Error(`process exited (${code}) before ${what}; output:\n${lines.slice(-20).join('\n')}`));
            }
          });
        });
      },
      send(line: string) {
        child.stdin?.write(`${line}\n`);
      },
    };
    this.procs.push(proc);
    return proc;
  }

  /** Sends SIGTERM (or `signal`) to a lab process by pid and waits for it to exit. */
  async stop(proc: Proc, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 5000): Promise<number | null> {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) return proc.child.exitCode;
    proc.child.kill(signal);
    const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
    const code = await proc.terminated;
    clearTimeout(timer);
    return code;
  }

  /** Kills every process this lab started (by pid) and deletes every namespace. */
  async cleanup(): Promise<void> {
    await Promise.all(this.procs.map((p) => this.stop(p, 'SIGTERM', 3000).catch(() => undefined)));
    // Processes started by others inside our namespaces (e.g. daemonized helpers) would keep them
    // busy: removeNamespace kills exactly the pids the kernel lists for each namespace of ours.
    for (const ns of this.namespaces.splice(0)) Lab.removeNamespace(ns);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Network-namespace labs for integration tests (root only).
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
import { createInterface } from 'node:readline';

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
  exited: Promise<number | null>;
  /** Waits for an output line matching `pred`. */
  waitLine(pred: (line: string) => boolean, timeoutMs?: number, what?: string): Promise<string>;
  send(line: string): void;
}

export class Lab {
  readonly id: string;
  readonly namespaces: string[] = [];
  private readonly procs: Proc[] = [];

  constructor(tag = 't') {
    this.id = `sc${process.pid}${tag}${labCounter++}`;
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
    for (const [ns, ifn, addrs] of [
      [nsA, ifA, opts.addrA ?? []],
      [nsB, ifB, opts.addrB ?? []],
    ] as const) {
      if (opts.mtu) this.ip(ns, 'link', 'set', ifn, 'mtu', String(opts.mtu));
      for (const a of addrs) this.ip(ns, 'addr', 'add', a, 'dev', ifn, ...(a.includes(':') ? ['nodad'] : []));
      this.ip(ns, 'link', 'set', ifn, 'up');
    }
  }

  /** A bridge in `ns` (for several nodes on one link). */
  bridge(ns: string, name: string): void {
    this.ip(ns, 'link', 'add', name, 'type', 'bridge');
    this.ip(ns, 'link', 'set', name, 'up');
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
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const proc: Proc = {
      child,
      pid: child.pid ?? -1,
      lines,
      stderr,
      exited,
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
    const code = await proc.exited;
    clearTimeout(timer);
    return code;
  }

  /** Kills every process this lab started (by pid) and deletes every namespace. */
  async cleanup(): Promise<void> {
    await Promise.all(this.procs.map((p) => this.stop(p, 'SIGTERM', 3000).catch(() => undefined)));
    for (const ns of this.namespaces.splice(0)) {
      // Processes started by others inside the namespace (e.g. daemonized helpers) would keep it
      // busy: kill exactly the pids the kernel lists for this namespace of ours.
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
  }
}

/** Parses a classic pcap file into raw link-layer frames. */
export function pcapFrames(buf: Buffer): Buffer[] {
  if (buf.length < 24) return [];
  const magic = buf.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const rd = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const frames: Buffer[] = [];
  let off = 24;
  while (off + 16 <= buf.length) {
    const incl = rd(off + 8);
    off += 16;
    if (off + incl > buf.length) break;
    frames.push(buf.subarray(off, off + incl));
    off += incl;
  }
  return frames;
}

/** UDP payloads (with destination port) of Ethernet/IPv6 or IPv4 frames. */
export function udpPayloads(frames: Buffer[]): Array<{ dport: number; sport: number; payload: Buffer }> {
  const out: Array<{ dport: number; sport: number; payload: Buffer }> = [];
  for (const f of frames) {
    if (f.length < 14) continue;
    const type = f.readUInt16BE(12);
    let l4: number;
    if (type === 0x86dd && f[14 + 6] === 17) l4 = 14 + 40;
    else if (type === 0x0800 && f[14 + 9] === 17) l4 = 14 + ((f[14] as number) & 0x0f) * 4;
    else continue;
    if (f.length < l4 + 8) continue;
    out.push({ sport: f.readUInt16BE(l4), dport: f.readUInt16BE(l4 + 2), payload: f.subarray(l4 + 8) });
  }
  return out;
}

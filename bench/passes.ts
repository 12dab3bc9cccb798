/**
 * Where a lone packet's time goes, per pass through a daemon, from the
 * kernel's own timestamps: ftrace's syscall events and sched_wakeup,
 * filtered on the tunnel daemons' main threads, while ping crosses the tunnel
 * at an idle pace. A pass runs from the daemon's return from epoll to its next
 * epoll call; for each one that moved a packet through the TUN device it gives
 * the wake-up latency (sched_wakeup to the return from epoll), the time outside
 * system calls up to the last TUN or UDP call ("user"), the time inside them,
 * and what the daemon did after its last one before sleeping again ("tail":
 * whatever the packet woke on the same CPU may wait for it). Peers with one
 * event-loop thread only (scrooge, fastd): a Go daemon's passes span threads.
 * Root only; needs tracefs (mounted if it is not). Not part of `npm test`.
 *
 *   npm run build && node dist/bench/passes.js [--count 40] [--interval 0.25] [--only scrooge,fastd]
 *                                            [--raw DIR] (keep each peer's trace text)
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchOption } from '../tools/args.js';
import { isRoot, Lab, waitFor } from '../tools/lab.js';
import { median } from '../tools/measure.js';
import { peerPair, peers } from '../tools/peers.js';

const COUNT = Number(benchOption('count', '40'));
const INTERVAL = benchOption('interval', '0.25');
const ONLY = benchOption('only', 'scrooge,fastd')
  .split(',')
  .filter((s) => s.length > 0);
const RAW = benchOption('raw', '');

const WAITS = ['epoll_wait', 'epoll_pwait', 'epoll_pwait2'];
/** TUN I/O (both daemons use plain read/write/writev only on the TUN fd in the data path). */
const TUN_IO = ['read', 'write', 'writev'];
const UDP_IO = ['recvmmsg', 'recvmsg', 'recvfrom', 'sendmmsg', 'sendmsg', 'sendto'];
const SYSCALLS = [...WAITS, ...TUN_IO, ...UDP_IO];

/** An ftrace instance of our own (its own buffer and event switches), removed in stop(). */
class Tracer {
  private readonly dir: string;

  constructor(root: string) {
    this.dir = join(root, 'instances', `scrooge-passes-${process.pid}`);
    mkdirSync(this.dir);
  }

  private put(file: string, value: string): void {
    writeFileSync(join(this.dir, file), value);
  }

  start(pids: number[]): void {
    this.put('buffer_size_kb', '16384');
    const byThread = pids.map((p) => `common_pid == ${p}`).join(' || ');
    for (const s of SYSCALLS) {
      for (const kind of ['enter', 'exit']) {
        const ev = `events/syscalls/sys_${kind}_${s}`;
        if (!existsSync(join(this.dir, ev))) continue;
        this.put(`${ev}/filter`, byThread);
        this.put(`${ev}/enable`, '1');
      }
    }
    this.put('events/sched/sched_wakeup/filter', pids.map((p) => `pid == ${p}`).join(' || '));
    this.put('events/sched/sched_wakeup/enable', '1');
    const either = pids.map((p) => `prev_pid == ${p} || next_pid == ${p}`).join(' || ');
    this.put('events/sched/sched_switch/filter', either);
    this.put('events/sched/sched_switch/enable', '1');
    this.put('trace', '');
    this.put('tracing_on', '1');
  }

  stop(): string {
    this.put('tracing_on', '0');
    const text = readFileSync(join(this.dir, 'trace'), 'utf8');
    this.close();
    return text;
  }

  close(): void {
    try {
      this.put('tracing_on', '0');
      this.put('events/enable', '0');
      rmdirSync(this.dir);
    } catch {
      // already gone
    }
  }
}

function tracefs(): string | undefined {
  for (const d of ['/sys/kernel/tracing', '/sys/kernel/debug/tracing']) if (existsSync(join(d, 'instances'))) return d;
  try {
    execFileSync('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing'], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  return existsSync('/sys/kernel/tracing/instances') ? '/sys/kernel/tracing' : undefined;
}

type Ev =
  | { t: number; tid: number; kind: 'enter'; call: string }
  | { t: number; tid: number; kind: 'exit'; call: string; ret: number }
  | { t: number; tid: number; kind: 'wake'; pid: number }
  /** sched_switch: `pid` left the CPU (out) or got it (in). */
  | { t: number; tid: number; kind: 'out'; pid: number }
  | { t: number; tid: number; kind: 'in'; pid: number };

/** Parses ftrace's text output (timestamps in µs). */
export function parseTrace(text: string): Ev[] {
  const out: Ev[] = [];
  const line = /^\s*.+-(\d+)\s+\[\d+\]\s+\S+\s+([\d.]+): (.*)$/;
  for (const l of text.split('\n')) {
    const m = line.exec(l);
    if (!m) continue;
    const tid = Number(m[1]);
    const t = Number(m[2]) * 1e6;
    const body = m[3] as string;
    const wake = /^sched_wakeup: .*\bpid=(\d+)/.exec(body);
    if (wake) {
      out.push({ t, tid, kind: 'wake', pid: Number(wake[1]) });
      continue;
    }
    const sw = /^sched_switch: .*\bprev_pid=(\d+) .*==> .*\bnext_pid=(\d+)/.exec(body);
    if (sw) {
      out.push({ t, tid, kind: 'out', pid: Number(sw[1]) });
      out.push({ t, tid, kind: 'in', pid: Number(sw[2]) });
      continue;
    }
    const exit = /^sys_(\w+) -> 0x([0-9a-f]+)$/.exec(body);
    if (exit) {
      const raw = BigInt(`0x${exit[2] as string}`);
      const ret = Number(BigInt.asIntN(64, raw));
      out.push({ t, tid, kind: 'exit', call: exit[1] as string, ret });
      continue;
    }
    const enter = /^sys_(\w+)\(/.exec(body);
    if (enter) out.push({ t, tid, kind: 'enter', call: enter[1] as string });
  }
  return out;
}

interface Pass {
  /** tun→udp, udp→tun, udp→tun→udp */
  role: string;
  /** sched_wakeup to the return from epoll (undefined: epoll returned without sleeping). */
  wake: number | undefined;
  user: number;
  syscalls: number;
  tail: number;
  /** Off the CPU inside the pass (preempted, e.g. by the peer its send woke on this CPU). */
  off: number;
}

/** Splits each thread's events into passes (epoll return to the next epoll call) and keeps those that moved a packet through the TUN device. */
export function passes(events: Ev[]): Pass[] {
  const byTid = new Map<number, Ev[]>();
  const wakeAt = new Map<number, number>();
  for (const e of events) {
    const tid = e.kind === 'enter' || e.kind === 'exit' ? e.tid : e.pid;
    let l = byTid.get(tid);
    if (!l) byTid.set(tid, (l = []));
    l.push(e);
  }
  const out: Pass[] = [];
  for (const list of byTid.values()) {
    let start: number | undefined;
    let wake: number | undefined;
    let sleptAt: number | undefined;
    let last = 0;
    let user = 0;
    let inCalls = 0;
    let lastIo = { user: 0, calls: 0, at: 0 };
    let outAt: number | undefined;
    let offStep = 0;
    let off = 0;
    let io: string[] = [];
    for (const e of list) {
      if (e.kind === 'wake') {
        if (sleptAt !== undefined) wakeAt.set(e.pid, e.t);
        continue;
      }
      if (e.kind === 'out') {
        outAt = e.t;
        continue;
      }
      if (e.kind === 'in') {
        if (outAt !== undefined && start !== undefined) offStep += e.t - outAt;
        outAt = undefined;
        continue;
      }
      const waits = WAITS.includes(e.call);
      if (e.kind === 'exit' && waits) {
        const woke = wakeAt.get(e.tid);
        wake = woke !== undefined && sleptAt !== undefined && woke >= sleptAt ? e.t - woke : undefined;
        wakeAt.delete(e.tid);
        start = e.t;
        last = e.t;
        user = 0;
        inCalls = 0;
        offStep = 0;
        off = 0;
        io = [];
        lastIo = { user: 0, calls: 0, at: e.t };
        continue;
      }
      if (start === undefined) {
        if (e.kind === 'enter' && waits) sleptAt = e.t;
        continue;
      }
      if (e.kind === 'enter') {
        user += e.t - last - offStep;
        off += offStep;
        offStep = 0;
        last = e.t;
        if (waits) {
          const tunIo = io.some((x) => x === 'tun<' || x === 'tun>');
          if (tunIo) {
            out.push({ role: roleOf(io), wake, user: lastIo.user, syscalls: lastIo.calls, tail: e.t - lastIo.at, off });
          }
          start = undefined;
          sleptAt = e.t;
        }
        continue;
      }
      inCalls += e.t - last - offStep;
      off += offStep;
      offStep = 0;
      last = e.t;
      if (e.ret <= 0) continue;
      const tag = TUN_IO.includes(e.call)
        ? e.call === 'read'
          ? 'tun>'
          : 'tun<'
        : UDP_IO.includes(e.call)
          ? e.call.startsWith('recv')
            ? 'udp>'
            : 'udp<'
          : undefined;
      if (tag === undefined) continue;
      io.push(tag);
      lastIo = { user, calls: inCalls, at: e.t };
    }
  }
  return out;
}

function roleOf(io: string[]): string {
  const first = io[0];
  if (first === 'tun>') return 'TUN → UDP (a packet leaves)';
  if (io.includes('tun>')) return 'UDP → TUN → UDP (the far end answers)';
  return 'UDP → TUN (a packet arrives)';
}

async function main(): Promise<void> {
  if (!isRoot()) {
    console.error('bench/passes needs root (network namespaces, ftrace)');
    process.exit(2);
  }
  const fs = tracefs();
  if (!fs) {
    console.error('bench/passes needs tracefs with instances (CONFIG_FTRACE_SYSCALLS)');
    process.exit(2);
  }
  const selected = peers.filter((p) => ONLY.includes(p.name));
  const lab = new Lab('passes');
  const dir = mkdtempSync(join(tmpdir(), 'scrooge-passes-'));
  const rows: string[] = [];
  const detail: string[] = [];
  try {
    const { a, b } = peerPair(lab);
    for (const peer of selected) {
      const why = peer.available();
      if (why) {
        rows.push(`| ${peer.name} | skipped: ${why} |`);
        continue;
      }
      const s = await peer.up(lab, a, b, dir);
      const tracer = new Tracer(fs);
      try {
        await waitFor(
          `${peer.name} connectivity`,
          () => lab.run(a, ['ping', '-c', '1', '-W', '1', s.target]).status === 0,
        );
        lab.run(a, ['ping', '-c', '5', '-i', '0.01', '-q', s.target]);
        tracer.start(s.pids);
        const out = lab.run(a, ['ping', '-c', String(COUNT), '-i', INTERVAL, s.target], 600_000).stdout;
        const text = tracer.stop();
        if (RAW) {
          mkdirSync(RAW, { recursive: true });
          writeFileSync(join(RAW, `${peer.name.replace(/\W+/g, '_')}.trace`), text);
        }
        const rtts = [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]) * 1000);
        const ps = passes(parseTrace(text));
        const pings = Math.max(1, rtts.length);
        const roles = [...new Set(ps.map((p) => p.role))].sort();
        // per ping: each kind of pass's median, times how many of that kind a ping made (medians, not
        // means: a pass that also handled a control message or met a GC pause would dominate a mean)
        const perPing = (f: (p: Pass) => number) =>
          roles.reduce((acc, role) => {
            const r = ps.filter((p) => p.role === role);
            return acc + (median(r.map(f)) * r.length) / pings;
          }, 0);
        rows.push(
          `| ${peer.name} | ${median(rtts).toFixed(0)} | ${(ps.length / pings).toFixed(1)} | ${perPing((p) => p.user).toFixed(0)} | ${perPing((p) => p.syscalls).toFixed(0)} | ${perPing((p) => p.tail).toFixed(0)} | ${perPing((p) => p.off).toFixed(0)} |`,
        );
        for (const role of roles) {
          const r = ps.filter((p) => p.role === role);
          const woke = r.map((p) => p.wake).filter((w): w is number => w !== undefined);
          const m = (xs: number[]) => (xs.length ? median(xs).toFixed(0) : '–');
          detail.push(
            `| ${peer.name} | ${role} | ${r.length} | ${m(woke)} | ${m(r.map((p) => p.user))} | ${m(r.map((p) => p.syscalls))} | ${m(r.map((p) => p.tail))} | ${m(r.map((p) => p.off))} |`,
          );
        }
      } finally {
        tracer.close();
        await s.stop();
      }
    }
  } finally {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
  const lines = [
    `bench/passes: ${COUNT} pings ${INTERVAL} s apart through each tunnel; ftrace on the daemons' main threads; µs`,
    '',
    '| tunnel | median RTT | TUN passes per ping | user per ping | in syscalls per ping | tails per ping | off CPU per ping |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    'Per ping: the median of each kind of pass times how many of that kind a ping made.',
    'Per pass (medians): wake-up = sched_wakeup to the return from epoll; user and syscalls up to the last TUN/UDP call; tail = after it, until epoll; user and syscalls exclude the time off the CPU (sched_switch), given apart.',
    '',
    '| tunnel | pass | n | wake-up | user | syscalls | tail | off CPU |',
    '|---|---|---|---|---|---|---|---|',
    ...detail,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();

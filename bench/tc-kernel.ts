/**
 * Traffic control: scrooge against the kernel, side by side, same topology.
 *
 *   [n1] n1b ── bn1 ┐
 *                   [b] bs ──── sb [s]     capacity 100 Mbit/s at b, n1:n2 = 3:1
 *   [n2] n2b ── bn2 ┘
 *
 * scrooge: n1, n2, b run `scrooge up`; b has --capacity 100mbit and weights
 *          3:1; n1/n2 reach s through their tunnels to b.
 * kernel:  the Scrooge prototype's scheme as far as this kernel allows (no
 *          drr, no fq_codel): one HTB tree on b's uplink, class 1:1 at 100
 *          Mbit/s, one child per neighbour with a tiny rate, ceil 100 Mbit/s
 *          and quantum = weight × 1514 (HTB lends spare bandwidth by DRR on
 *          quantum), pfifo leaves, classification by nftables marks from the
 *          input interface through a classic-BPF tc filter; offloads off.
 *
 * Each setup's own goodput ceiling is reported (HTB counts 1514-byte frames
 * carrying 1448 bytes of TCP; scrooge counts inner packets of 1420 bytes
 * carrying 1368), so aggregate accuracy is comparable.
 *
 *   npm run build && node dist/bench/tc-kernel.js [--seconds 10] [--repeat 3]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { type DaemonHandle, neighbors, startDaemon, status, waitUp } from '../tools/daemons.js';
import { hasCommand, isRoot, Lab, markFilter, waitFor } from '../tools/lab.js';
import { benchOption } from '../tools/args.js';

const opt = benchOption;
const SECONDS = Number(opt('seconds', '10'));
const REPEAT = Number(opt('repeat', '3'));

interface Topo {
  lab: Lab;
  n1: string;
  n2: string;
  b: string;
  s: string;
  stop(): Promise<void>;
}

function base(tag: string): Topo {
  const lab = new Lab(tag);
  const n1 = lab.addNs('n1');
  const n2 = lab.addNs('n2');
  const b = lab.addNs('b');
  const s = lab.addNs('s');
  lab.veth(n1, 'n1b', b, 'bn1');
  lab.veth(n2, 'n2b', b, 'bn2');
  lab.veth(b, 'bs', s, 'sb', { addrA: ['10.50.0.1/24'], addrB: ['10.50.0.2/24'] });
  for (const [ns, dev] of [
    [n1, 'n1b'],
    [n2, 'n2b'],
    [b, 'bn1'],
    [b, 'bn2'],
    [b, 'bs'],
    [s, 'sb'],
  ] as const) {
    lab.run(ns, ['ethtool', '-K', dev, 'tso', 'off', 'gso', 'off', 'gro', 'off']);
  }
  for (const port of ['5201', '5202']) lab.spawn(s, ['iperf3', '-s', '-J', '-p', port]);
  return { lab, n1, n2, b, s, stop: () => lab.cleanup() };
}

async function scroogeSetup(t: Topo): Promise<void> {
  const { lab, n1, n2, b, s } = t;
  lab.ip(s, 'route', 'add', '10.99.0.0/24', 'via', '10.50.0.1');
  await lab.ready();
  const d1 = await startDaemon(lab, n1, 'n1', ['n1b'], ['--address', '10.99.0.11/32', '--log-level', 'warn']);
  const d2 = await startDaemon(lab, n2, 'n2', ['n2b'], ['--address', '10.99.0.12/32', '--log-level', 'warn']);
  const pk1 = (await status(d1)).publicKey as string;
  const pk2 = (await status(d2)).publicKey as string;
  const cfg = `${lab.dir}/b.json`;
  writeFileSync(
    cfg,
    JSON.stringify({ capacity: '100mbit', share: 1, neighbors: { [pk1]: { weight: 3 }, [pk2]: { weight: 1 } } }),
  );
  const db: DaemonHandle = await startDaemon(
    lab,
    b,
    'b',
    ['bn1', 'bn2'],
    ['--config', cfg, '--address', '10.99.0.2/32', '--enable-forwarding', '--log-level', 'warn'],
  );
  await Promise.all([waitUp(d1, 1), waitUp(d2, 1), waitUp(db, 2)]);
  lab.ip(n1, 'route', 'add', '10.50.0.0/24', 'dev', (await neighbors(d1))[0]?.tun as string);
  lab.ip(n2, 'route', 'add', '10.50.0.0/24', 'dev', (await neighbors(d2))[0]?.tun as string);
  for (const n of await neighbors(db))
    lab.ip(b, 'route', 'add', n.publicKey === pk1 ? '10.99.0.11/32' : '10.99.0.12/32', 'dev', n.tun as string);
}

async function kernelSetup(t: Topo): Promise<void> {
  const { lab, n1, n2, b, s } = t;
  lab.ip(n1, 'addr', 'add', '10.61.1.1/24', 'dev', 'n1b');
  lab.ip(b, 'addr', 'add', '10.61.1.2/24', 'dev', 'bn1');
  lab.ip(n2, 'addr', 'add', '10.61.2.1/24', 'dev', 'n2b');
  lab.ip(b, 'addr', 'add', '10.61.2.2/24', 'dev', 'bn2');
  lab.ip(n1, 'route', 'add', 'default', 'via', '10.61.1.2');
  lab.ip(n2, 'route', 'add', 'default', 'via', '10.61.2.2');
  lab.ip(s, 'route', 'add', '10.61.0.0/16', 'via', '10.50.0.1');
  lab.sysctl(b, 'net.ipv4.ip_forward', '1');
  const tc = (...a: string[]) => lab.exec(b, ['tc', ...a]);
  tc('qdisc', 'add', 'dev', 'bs', 'root', 'handle', '1:', 'htb', 'default', '30');
  tc('class', 'add', 'dev', 'bs', 'parent', '1:', 'classid', '1:1', 'htb', 'rate', '100mbit', 'ceil', '100mbit');
  for (const [cls, q] of [
    ['10', 3 * 1514],
    ['20', 1514],
    ['30', 1514],
  ] as const) {
    tc(
      'class',
      'add',
      'dev',
      'bs',
      'parent',
      '1:1',
      'classid',
      `1:${cls}`,
      'htb',
      'rate',
      '8kbit',
      'ceil',
      '100mbit',
      'quantum',
      String(q),
    );
    tc('qdisc', 'add', 'dev', 'bs', 'parent', `1:${cls}`, 'handle', `${cls}:`, 'pfifo', 'limit', '1000');
  }
  tc(...markFilter('bs', 1, 1, '1:10'));
  tc(...markFilter('bs', 2, 2, '1:20'));
  lab.nft(
    b,
    'table inet kmark {\n chain mark_by_input {\n  type filter hook forward priority 0;\n  iifname "bn1" meta mark set 1\n  iifname "bn2" meta mark set 2\n }\n}\n',
  );
  await lab.ready();
}

function busyJiffies(): number {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return f.reduce((a, x) => a + x, 0) - idle;
}

async function iperfPair(t: Topo): Promise<{ r1: number; r2: number; bytes: number; cpuS: number }> {
  const { lab, n1, n2 } = t;
  await waitFor('iperf3 servers', () => lab.run(t.s, ['ss', '-ltn']).stdout.includes(':5202'));
  const j0 = busyJiffies();
  const a = lab.spawn(n1, ['iperf3', '-c', '10.50.0.2', '-p', '5201', '-t', String(SECONDS), '-J']);
  const c = lab.spawn(n2, ['iperf3', '-c', '10.50.0.2', '-p', '5202', '-t', String(SECONDS), '-J']);
  await Promise.all([a.exited, c.exited]);
  const cpuS = (busyJiffies() - j0) / 100;
  const get = (p: typeof a) =>
    (JSON.parse(p.lines.join('\n')) as { end: { sum_received: { bits_per_second: number; bytes: number } } }).end
      .sum_received;
  const x = get(a);
  const y = get(c);
  return { r1: x.bits_per_second / 1e6, r2: y.bits_per_second / 1e6, bytes: x.bytes + y.bytes, cpuS };
}

function pings(lab: Lab, ns: string, count: number): number[] {
  const out = lab.exec(ns, ['ping', '-c', String(count), '-i', '0.1', '-W', '2', '10.50.0.2']);
  return [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((x, y) => x - y);
}

const med = (xs: number[]) => xs[Math.floor(xs.length / 2)] ?? Number.NaN;
const p95 = (xs: number[]) => xs[Math.min(xs.length - 1, Math.floor(xs.length * 0.95))] ?? Number.NaN;

async function delayUnderLoad(t: Topo, from: string): Promise<{ idle: number; med: number; p95: number }> {
  const idle = pings(t.lab, from, 10);
  const load = t.lab.spawn(t.n1, ['iperf3', '-c', '10.50.0.2', '-p', '5201', '-t', '6', '-J']);
  await new Promise((r) => setTimeout(r, 1500));
  const loaded = pings(t.lab, from, 30);
  await load.exited;
  return { idle: med(idle), med: med(loaded) - med(idle), p95: p95(loaded) - med(idle) };
}

interface Result {
  fraction: number[];
  aggregate: number[];
  cpuPerGB: number[];
  otherMed: number[];
  otherP95: number[];
  sameMed: number[];
  sameP95: number[];
}

async function measure(tag: string, setup: (t: Topo) => Promise<void>, r: Result): Promise<void> {
  const t = base(tag);
  try {
    await setup(t);
    const p = await iperfPair(t);
    r.fraction.push(p.r1 / (p.r1 + p.r2));
    r.aggregate.push(p.r1 + p.r2);
    r.cpuPerGB.push(p.cpuS / (p.bytes / 1e9));
    const other = await delayUnderLoad(t, t.n2);
    r.otherMed.push(other.med);
    r.otherP95.push(other.p95);
    const same = await delayUnderLoad(t, t.n1);
    r.sameMed.push(same.med);
    r.sameP95.push(same.p95);
  } finally {
    await t.stop();
  }
}

async function main(): Promise<void> {
  if (!isRoot()) {
    console.error('bench/tc-kernel needs root');
    process.exit(2);
  }
  for (const c of ['iperf3', 'tc', 'ethtool']) if (!hasCommand(c)) throw new Error(`needs ${c}`);
  const empty = (): Result => ({
    fraction: [],
    aggregate: [],
    cpuPerGB: [],
    otherMed: [],
    otherP95: [],
    sameMed: [],
    sameP95: [],
  });
  const us = empty();
  const kernel = empty();
  const started = Date.now();
  for (let i = 0; i < REPEAT; i++) {
    await measure('tk', scroogeSetup, us);
    await measure('tq', kernelSetup, kernel);
    process.stderr.write(
      `rep ${i + 1}/${REPEAT}: scrooge n1 share ${us.fraction.at(-1)?.toFixed(3)}, kernel ${kernel.fraction.at(-1)?.toFixed(3)}\n`,
    );
  }
  const m = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  const range = (xs: number[], d: number) =>
    `${m(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)})`;
  const ceilUs = (100 * 1368) / 1420;
  const ceilK = (100 * 1448) / 1514;
  const rows = [
    ['n1 fraction of the aggregate (target 0.750)', range(us.fraction, 3), range(kernel.fraction, 3)],
    [
      'split error (points)',
      (Math.abs(m(us.fraction) - 0.75) * 100).toFixed(1),
      (Math.abs(m(kernel.fraction) - 0.75) * 100).toFixed(1),
    ],
    ['aggregate goodput Mbit/s', range(us.aggregate, 1), range(kernel.aggregate, 1)],
    [
      "… of the setup's ceiling",
      `${((m(us.aggregate) / ceilUs) * 100).toFixed(1)} % of ${ceilUs.toFixed(1)}`,
      `${((m(kernel.aggregate) / ceilK) * 100).toFixed(1)} % of ${ceilK.toFixed(1)}`,
    ],
    [
      'ping from n2 while n1 saturates: added median / p95 ms',
      `${m(us.otherMed).toFixed(2)} / ${m(us.otherP95).toFixed(2)}`,
      `${m(kernel.otherMed).toFixed(2)} / ${m(kernel.otherP95).toFixed(2)}`,
    ],
    [
      'ping from n1 behind its own bulk flow: added median / p95 ms',
      `${m(us.sameMed).toFixed(2)} / ${m(us.sameP95).toFixed(2)}`,
      `${m(kernel.sameMed).toFixed(2)} / ${m(kernel.sameP95).toFixed(2)}`,
    ],
    ['whole-VM CPU seconds per GB', range(us.cpuPerGB, 1), range(kernel.cpuPerGB, 1)],
  ];
  process.stdout.write(
    `bench/tc-kernel: medians (min–max) of ${REPEAT} runs, ${SECONDS} s iperf3 TCP per run, ${((Date.now() - started) / 1000).toFixed(0)} s total\n\n` +
      `| | scrooge (userspace, tunnels) | kernel HTB + pfifo (no tunnels) |\n|---|---|---|\n${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}\n`,
  );
}

await main();

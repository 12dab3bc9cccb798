/**
 * `scrooge demo` (npm run demo): a small mesh in network namespaces on this
 * machine, real `scrooge up` daemons in each, traffic through a gateway with
 * weights, then a weight and a share change while it runs, then a raw packet
 * stopped by the forwarding filter. Live table on a terminal, plain lines
 * otherwise; an SVG plot at the end; everything removed on exit (Ctrl-C too).
 *
 *                      uplink (plain)
 *          [sink] ────────────────────── [gw] gateway: capacity, weights a:b = 3:1
 *                                         │
 *                          mesh bridge ───┼──────────┐
 *                                         │          │
 *                                        [a]        [b]
 *                                         │
 *                                        [c]   reaches the gateway only through a
 */
import { DataplaneError } from '../../dataplane/errors.js';
import { ControlError } from '../../src/errors.js';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiRequest } from '../../src/api.js';
import { flag, type OptionSpec, parseFlags, str } from '../../src/flags.js';
import { formatRate, parseDuration, parseRate } from '../../src/values.js';
import type { NeighborInfo } from '../../src/daemon.js';
import { hasCommand, isRoot, Lab, NFT, type Proc, waitFor } from '../lab.js';
import { lineChart, type Series } from '../svg.js';
import { defaultBackend } from '../../src/index.js';
import { generateIdentityWith, writeKeyFile } from '../../src/keyfile.js';
import { findSystemBinary } from '../../src/system.js';

export const DEMO_HELP = `usage: scrooge demo [--duration 60s] [--capacity 40mbit] [--out FILE] [--keep] [--plain] [--check]

Builds a five-node mesh in network namespaces on this machine (a gateway with
an uplink to a sink, neighbours a and b on a shared link, c behind a), runs
the real daemon in each, sends traffic from a, b and c through the gateway
and shows, second by second, how the gateway divides its capacity by weight;
then changes a weight and the share while it runs, and shows a raw packet
(sent around the tunnels) being dropped by the forwarding filter. Writes an
SVG plot of the run. Needs root. Removes everything it created on exit.

  --duration D   length of the traffic part (default 60s; at least 15s)
  --capacity R   the gateway's capacity (default 40mbit)
  --out FILE     where to write the plot (default ./scrooge-demo.svg)
  --keep         leave the mesh running until Ctrl-C (prints how to explore it)
  --plain        plain log lines even on a terminal
  --check        check what the demo shows (shares, capacity, filter) and exit 1
                 if it is not so (for CI)`;

const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
const TRAFFIC = fileURLToPath(new URL('./traffic.js', import.meta.url));

interface Node {
  name: string;
  ns: string;
  stateDir: string;
  proc: Proc;
  address: string;
  pk: string;
}

interface Sample {
  t: number;
  phase: string;
  rates: Record<string, number>;
}

class Screen {
  private drawn = 0;
  constructor(readonly live: boolean) {}
  /** Replaces the live block (terminal) or prints the lines (plain). */
  show(lines: string[]): void {
    if (!this.live) return;
    let out = '';
    if (this.drawn > 0) out += `\x1b[${this.drawn}A`;
    for (const l of lines) out += `\x1b[2K${l}\n`;
    this.drawn = lines.length;
    process.stdout.write(out);
  }
  log(line: string): void {
    if (this.live) this.drawn = 0;
    process.stdout.write(`${line}\n`);
  }
}

/** Set on SIGINT/SIGTERM: the mesh is going away; stop reporting on it. */
let interrupted = false;

function stale(): void {
  // namespaces of earlier demos whose process is gone (a crash, kill -9)
  const out = Lab.listNamespaces();
  for (const ns of out) {
    const m = /^scrdemo(\d+)/.exec(ns);
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive) Lab.removeNamespace(ns);
  }
}

export async function demo(args: string[]): Promise<number> {
  const spec: OptionSpec = {
    duration: { type: 'string' },
    capacity: { type: 'string' },
    out: { type: 'string' },
    keep: { type: 'boolean' },
    check: { type: 'boolean' },
    plain: { type: 'boolean' },
  };
  const p = parseFlags('demo', args, spec, 0);
  let durationMs: number;
  let capacity: number;
  try {
    durationMs = parseDuration(str(p, 'duration') ?? '60s');
    capacity = parseRate(str(p, 'capacity') ?? '40mbit');
  } catch (e) {
    throw new ControlError('ERR_USAGE', `demo: ${(e as Error).message}`);
  }
  if (durationMs < 15_000) throw new ControlError('ERR_USAGE', 'demo: --duration must be at least 15s');
  if (!isRoot()) {
    throw new ControlError(
      'ERR_PERMISSION',
      'the demo creates network namespaces and needs root: run it with sudo (sudo npm run demo)',
    );
  }
  const missing = [
    ['ip', 'iproute2'],
    ['nft', 'nftables'],
  ].filter(([cmd]) => !findSystemBinary(cmd as string));
  if (missing.length > 0) {
    throw new ControlError(
      'ERR_PERMISSION',
      `the demo needs ${missing.map((m) => m[0]).join(' and ')}: apt-get install ${missing.map((m) => m[1]).join(' ')}`,
    );
  }
  const outFile = resolve(str(p, 'out') ?? 'scrooge-demo.svg');
  const screen = new Screen(process.stdout.isTTY === true && !flag(p, 'plain'));
  stale();
  const lab = new Lab('', { prefix: 'scrdemo' });
  let stopping = false;
  const cleanup = async () => {
    if (stopping) return;
    stopping = true;
    await lab.cleanup();
  };
  const onSignal = () => {
    interrupted = true;
    screen.log('\ninterrupted: removing the demo mesh…');
    void cleanup().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await run(lab, screen, { durationMs, capacity, outFile, keep: flag(p, 'keep'), check: flag(p, 'check') });
  } catch (e) {
    // interrupted: the mesh is being taken down under us; the signal handler exits when done
    if (stopping) await new Promise(() => {});
    screen.log(`demo failed: ${(e as Error).message}`);
    for (const name of ['gw', 'a', 'b', 'c']) {
      const log = `${lab.dir}/${name}.log`;
      if (!existsSync(log)) continue;
      const tail = readFileSync(log, 'utf8').trimEnd().split('\n').slice(-8);
      screen.log(`--- last lines of ${name}'s daemon log ---`);
      for (const l of tail) screen.log(l);
    }
    if (process.env.SCROOGE_DEMO_HOLD === '1') {
      screen.log(`SCROOGE_DEMO_HOLD=1: the mesh stays up (${lab.dir}); Ctrl-C removes it`);
      await new Promise(() => {});
    }
    throw e;
  } finally {
    await cleanup();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

async function run(
  lab: Lab,
  screen: Screen,
  o: { durationMs: number; capacity: number; outFile: string; keep: boolean; check: boolean },
): Promise<number> {
  const t0 = Date.now();
  const since = () => `${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s`;
  const useBabel = hasCommand('babeld');
  screen.log(
    `scrooge demo: a gateway, three neighbours and a sink in network namespaces (${useBabel ? 'routes by babeld' : 'static routes; install babeld to route dynamically'})`,
  );

  // --- topology ---------------------------------------------------------------------------
  const ns = {
    gw: lab.addNs('gw'),
    a: lab.addNs('a'),
    b: lab.addNs('b'),
    c: lab.addNs('c'),
    sink: lab.addNs('sink'),
    bridge: lab.addNs('br'),
  };
  lab.bridge(ns.bridge, 'mesh');
  lab.veth(ns.gw, 'mesh0', ns.bridge, 'pgw', { addrA: ['10.42.5.1/24'] });
  lab.veth(ns.a, 'mesh0', ns.bridge, 'pa', { addrA: ['10.42.5.2/24'] });
  lab.veth(ns.b, 'mesh0', ns.bridge, 'pb', { addrA: ['10.42.5.3/24'] });
  for (const port of ['pgw', 'pa', 'pb']) lab.enslave(ns.bridge, port, 'mesh');
  lab.veth(ns.a, 'mesh1', ns.c, 'mesh0');
  lab.veth(ns.gw, 'uplink', ns.sink, 'uplink', { addrA: ['10.42.9.1/24'], addrB: ['10.42.9.2/24'] });
  lab.ip(ns.sink, 'route', 'add', '10.42.0.0/24', 'via', '10.42.9.1');
  await lab.ready();

  // --- daemons ------------------------------------------------------------------------------
  // identities first, so the gateway's weights can name a and b and all four daemons
  // (and their babelds) start together
  const plan: Array<{ name: keyof typeof ns; ifaces: string[]; address: string; port: number }> = [
    { name: 'gw', ifaces: ['mesh0'], address: '10.42.0.1/32', port: 33100 },
    { name: 'a', ifaces: ['mesh0', 'mesh1'], address: '10.42.0.2/32', port: 33101 },
    { name: 'b', ifaces: ['mesh0'], address: '10.42.0.3/32', port: 33102 },
    { name: 'c', ifaces: ['mesh0'], address: '10.42.0.4/32', port: 33103 },
  ];
  const keys: Record<string, string> = {};
  for (const p of plan) {
    mkdirSync(`${lab.dir}/${p.name}`, { recursive: true });
    const id = generateIdentityWith(defaultBackend());
    writeKeyFile(`${lab.dir}/${p.name}/key`, id.seed);
    keys[p.name] = id.publicKeyBase64;
  }
  const cfg = `${lab.dir}/gw.json`;
  writeFileSync(
    cfg,
    JSON.stringify(
      {
        capacity: formatRate(o.capacity),
        share: 1,
        neighbors: { [keys.a as string]: { weight: 3 }, [keys.b as string]: { weight: 1 } },
      },
      null,
      2,
    ),
  );
  const start = async (p: (typeof plan)[number]): Promise<Node> => {
    const { name } = p;
    const stateDir = `${lab.dir}/${name}`;
    const logFile = `${lab.dir}/${name}.log`;
    if (useBabel) {
      lab.placeholder(ns[name], 'bd0'); // babeld wants one interface at start; tunnels come through its socket
      // the node's address from the start, so babeld exports it before the first tunnel is up
      lab.ip(ns[name], 'addr', 'add', p.address, 'dev', 'bd0');
      lab.spawn(ns[name], [
        'babeld',
        '-G',
        String(p.port),
        '-M',
        '0',
        '-I',
        `${lab.dir}/${name}-babel.pid`,
        '-S',
        `${lab.dir}/${name}-babel.state`,
        ...(process.env.SCROOGE_DEMO_DEBUG === '1' ? ['-d', '1', '-L', `${lab.dir}/${name}-babel.log`] : ['-d', '0']),
        '-C',
        'redistribute local ip 10.42.0.0/24 ge 32 allow',
        '-C',
        'redistribute ip 10.42.9.0/24 eq 24 allow',
        '-C',
        'redistribute local deny',
        'bd0',
      ]);
      await waitFor(
        `babeld in ${name}`,
        () => lab.run(ns[name], ['ss', '-ltn', `sport = :${p.port}`]).stdout.includes(String(p.port)),
        10_000,
      );
    }
    const argv = [
      process.execPath,
      CLI,
      'up',
      ...p.ifaces.flatMap((i) => ['--interface', i]),
      '--state-dir',
      stateDir,
      '--address',
      p.address,
      '--enable-forwarding',
      ...(useBabel
        ? ['--babel', String(p.port), '--babel-interface', 'type tunnel hello-interval 0.5 update-interval 2']
        : []),
      ...(name === 'gw' ? ['--config', cfg] : []),
    ];
    const proc = lab.spawn(ns[name], ['sh', '-c', `exec "$@" >>${logFile} 2>&1`, 'sh', ...argv]);
    await waitFor(`${name}'s daemon`, async () => {
      if (proc.child.exitCode !== null)
        throw new DataplaneError('ERR_NATIVE', `${name}'s daemon exited; see ${logFile}`);
      await apiRequest(`${stateDir}/scrooge.sock`, 'GET', '/v1/status');
      return true;
    });
    return { name, ns: ns[name], stateDir, proc, address: p.address.split('/')[0] as string, pk: keys[name] as string };
  };
  screen.log(`${since()}  starting daemons: gw (capacity ${formatRate(o.capacity)}, weights a:b = 3:1), a, b, c`);
  const [gw, a, b, c] = (await Promise.all(plan.map(start))) as [Node, Node, Node, Node];
  const nodes: Record<string, Node> = { gw, a, b, c };

  const neighborsOf = async (n: Node) =>
    (await apiRequest(`${n.stateDir}/scrooge.sock`, 'GET', '/v1/neighbors')) as NeighborInfo[];
  const upCount = async (n: Node) => (await neighborsOf(n)).filter((x) => x.state === 'up').length;
  const want: Record<string, number> = { gw: 2, a: 3, b: 2, c: 1 };
  await waitFor(
    'tunnels up',
    async () => {
      const counts = await Promise.all(Object.values(nodes).map(async (n) => [n.name, await upCount(n)] as const));
      screen.show([`${since()}  tunnels up: ${counts.map(([n, k]) => `${n} ${k}/${want[n]}`).join('  ')}`]);
      return counts.every(([n, k]) => k === want[n]);
    },
    30_000,
    200,
  );
  screen.log(`${since()}  all tunnels up: gw–a, gw–b, a–b, a–c (c reaches the gateway only through a)`);

  // --- routes -------------------------------------------------------------------------------
  const tunTo = async (from: Node, to: Node) =>
    (await neighborsOf(from)).find((x) => x.publicKey === to.pk)?.tun as string;
  if (useBabel) {
    // wait for babeld to settle on the shortest paths (the first route it installs can
    // be a detour, e.g. b → a → gw, which would count b's traffic as a's at the gateway)
    const expect: Array<[Node, string, string]> = [
      [a, '10.42.9.2', await tunTo(a, gw)],
      [b, '10.42.9.2', await tunTo(b, gw)],
      [c, '10.42.9.2', await tunTo(c, a)],
      [gw, '10.42.0.2', await tunTo(gw, a)],
      [gw, '10.42.0.3', await tunTo(gw, b)],
      [gw, '10.42.0.4', await tunTo(gw, a)],
    ];
    let lastLine = '';
    const dev = (n: Node, dst: string) => /\bdev (\S+)/.exec(lab.run(n.ns, ['ip', 'route', 'get', dst]).stdout)?.[1];
    await waitFor(
      'shortest routes from babeld',
      () => {
        const missing = expect.filter(([n, dst, want]) => dev(n, dst) !== want).map(([n, dst]) => `${n.name}→${dst}`);
        const line = `${since()}  waiting for babeld's shortest routes over the tunnels; not yet: ${missing.join(' ')}`;
        if (missing.length > 0 && line !== lastLine) {
          if (screen.live) screen.show([line]);
          else if (process.env.SCROOGE_DEMO_DEBUG === '1') screen.log(line);
        }
        lastLine = line;
        return missing.length === 0;
      },
      60_000,
      250,
    );
    await waitFor(
      'the sink to answer',
      () => [a, b, c].every((n) => lab.run(n.ns, ['ping', '-c', '1', '-W', '1', '10.42.9.2']).status === 0),
      10_000,
      250,
    );
  } else {
    const route = (n: Node, dst: string, dev: string) => lab.ip(n.ns, 'route', 'replace', dst, 'dev', dev);
    route(a, '10.42.9.0/24', await tunTo(a, gw));
    route(b, '10.42.9.0/24', await tunTo(b, gw));
    route(c, '10.42.9.0/24', await tunTo(c, a));
    route(c, '10.42.0.0/24', await tunTo(c, a));
    route(a, '10.42.0.4/32', await tunTo(a, c));
    route(gw, '10.42.0.2/32', await tunTo(gw, a));
    route(gw, '10.42.0.4/32', await tunTo(gw, a));
    route(gw, '10.42.0.3/32', await tunTo(gw, b));
  }
  screen.log(`${since()}  routes in place: a, b and c reach the sink (10.42.9.2) through the gateway's tunnels`);

  // --- traffic ------------------------------------------------------------------------------
  for (const port of [5001, 5002, 5003]) {
    const s = lab.spawn(ns.sink, [process.execPath, TRAFFIC, 'sink', String(port)]);
    await s.waitLine((l) => l === `listening ${port}`);
  }
  lab.spawn(a.ns, [process.execPath, TRAFFIC, 'send', '10.42.9.2', '5001']);
  lab.spawn(b.ns, [process.execPath, TRAFFIC, 'send', '10.42.9.2', '5002']);
  lab.spawn(c.ns, [process.execPath, TRAFFIC, 'send', '10.42.9.2', '5003']);

  const phases = [
    { at: 0, name: 'weights a:b = 3:1', apply: async () => {} },
    { at: 0.4, name: 'weights a:b = 1:1', apply: async () => void (await gwSet({ weight: { key: a.pk, value: 1 } })) },
    { at: 0.7, name: 'share 0.5', apply: async () => void (await gwSet({ share: 0.5 })) },
  ];
  const gwSet = (body: unknown) => apiRequest(`${gw.stateDir}/scrooge.sock`, 'POST', '/v1/set', body);
  const samples: Sample[] = [];
  const markers: Array<[number, string]> = [];
  let last = new Map<string, number>();
  let lastAt = Date.now();
  const tStart = Date.now();
  const header = `  time  phase               a (+c)     b          total      a's share`;
  screen.log(
    `${since()}  traffic: a, b and c send TCP to the sink as fast as they can; the gateway divides ${formatRate(o.capacity)}`,
  );
  screen.log(header);
  let phaseIdx = -1;
  while (Date.now() - tStart < o.durationMs) {
    const frac = (Date.now() - tStart) / o.durationMs;
    while (phaseIdx + 1 < phases.length && frac >= (phases[phaseIdx + 1]?.at ?? 2)) {
      phaseIdx++;
      const ph = phases[phaseIdx] as (typeof phases)[number];
      await ph.apply();
      if (phaseIdx > 0) {
        markers.push([(Date.now() - tStart) / 1000, ph.name]);
        screen.log(
          `${since()}  scrooge set ${ph.name === 'share 0.5' ? 'share 0.5' : `weight ${a.pk.slice(0, 8)}… 1`}  →  ${ph.name}`,
        );
      }
    }
    await new Promise((r) => setTimeout(r, 1000));
    if (interrupted) await new Promise(() => {}); // the signal handler exits after cleanup
    const now = Date.now();
    const list = await neighborsOf(gw);
    const rates: Record<string, number> = {};
    const next = new Map<string, number>();
    for (const n of list) {
      const who = n.publicKey === a.pk ? 'a' : n.publicKey === b.pk ? 'b' : '?';
      const bytes = n.scheduled?.ingress.bytes ?? 0;
      next.set(who, bytes);
      // a counter that went backwards (a re-created link) counts from zero
      const delta = Math.max(0, bytes - (last.get(who) ?? bytes));
      rates[who] = (delta * 8) / ((now - lastAt) / 1000) / 1e6;
    }
    last = next;
    lastAt = now;
    if (samples.length === 0 && Object.values(rates).every((r) => r === 0)) {
      samples.push({ t: (now - tStart) / 1000, phase: phases[phaseIdx]?.name ?? '', rates: { a: 0, b: 0 } });
      continue;
    }
    const s: Sample = { t: (now - tStart) / 1000, phase: phases[phaseIdx]?.name ?? '', rates };
    samples.push(s);
    const ra = rates.a ?? 0;
    const rb = rates.b ?? 0;
    const line = `${s.t.toFixed(0).padStart(5)}s  ${s.phase.padEnd(18)}  ${ra.toFixed(1).padStart(6)} Mb/s ${rb.toFixed(1).padStart(6)} Mb/s ${(ra + rb).toFixed(1).padStart(6)} Mb/s  ${ra + rb > 0 ? `${((ra / (ra + rb)) * 100).toFixed(0).padStart(3)} %` : '  -'}  ${bar(ra, rb, o.capacity / 1e6)}`;
    if (screen.live) screen.show([line]);
    else screen.log(line);
  }
  if (screen.live) screen.log('');

  // --- the forwarding filter ------------------------------------------------------------------
  screen.log(
    `${since()}  b now sends 20 raw UDP packets to the sink around its tunnel (via the gateway's plain address 10.42.5.1)…`,
  );
  const probeSink = lab.spawn(ns.sink, [process.execPath, TRAFFIC, 'probe-sink', '7777']);
  await probeSink.waitLine((l) => l === 'listening 7777');
  const before = await filterDrops(gw);
  // only the probe (UDP to port 7777) takes the detour: a policy route in b
  lab.ip(b.ns, 'route', 'add', '10.42.9.2/32', 'via', '10.42.5.1', 'dev', 'mesh0', 'table', '77');
  lab.ip(b.ns, 'rule', 'add', 'ipproto', 'udp', 'dport', '7777', 'lookup', '77', 'priority', '77');
  lab.exec(b.ns, [process.execPath, TRAFFIC, 'probe', '10.42.9.2', '7777', '20']);
  // poll: the daemon reads nftables counters at most once a second
  let after = before;
  for (const deadline = Date.now() + 5000; after - before < 20 && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 200));
    after = await filterDrops(gw);
  }
  const got = probeSink.lines.filter((l) => l.startsWith('got ')).length;
  lab.ip(b.ns, 'rule', 'del', 'priority', '77');
  screen.log(
    `${since()}  the gateway's filter dropped ${after - before} packets from its mesh interface; the sink received ${got} of 20`,
  );
  lab.exec(b.ns, [process.execPath, TRAFFIC, 'probe', '10.42.9.2', '7777', '20']);
  await new Promise((r) => setTimeout(r, 500));
  const gotTunnel = probeSink.lines.filter((l) => l.startsWith('got ')).length - got;
  screen.log(`${since()}  the same 20 packets through b's tunnel: the sink received ${gotTunnel} of 20`);
  const tableText = lab
    .exec(gw.ns, [NFT, 'list', 'chain', 'inet', 'scrooge', 'forward'])
    .trim()
    .split('\n')
    .filter((l) => l.includes('iifname'))
    .map((l) => l.trim())
    .join('; ');
  screen.log(`${since()}  (rule on the gateway: ${tableText})`);

  // --- plot and summary -------------------------------------------------------------------------
  const series: Series[] = [
    { label: 'a (incl. c), weight 3→1', points: samples.map((s) => [s.t, s.rates.a ?? 0]) },
    { label: 'b, weight 1', points: samples.map((s) => [s.t, s.rates.b ?? 0]) },
    { label: 'total', points: samples.map((s) => [s.t, (s.rates.a ?? 0) + (s.rates.b ?? 0)]) },
  ];
  writeFileSync(
    o.outFile,
    lineChart(series, {
      title: 'scrooge demo: what the gateway lets through, per neighbour',
      subtitle: `capacity ${formatRate(o.capacity)}; weights a:b 3:1, then 1:1, then share 0.5`,
      xLabel: 'time (s)',
      yLabel: 'Mbit/s',
      markers,
      yMax: (o.capacity / 1e6) * 1.15,
    }),
  );
  const avg = (phase: string, who: string) => {
    const xs = samples
      .filter((s) => s.phase === phase)
      .slice(2)
      .map((s) => s.rates[who] ?? 0);
    return xs.length ? xs.reduce((x, y) => x + y, 0) / xs.length : 0;
  };
  screen.log('');
  screen.log('summary (gateway, steady part of each phase):');
  for (const ph of phases) {
    const ra = avg(ph.name, 'a');
    const rb = avg(ph.name, 'b');
    screen.log(
      `  ${ph.name.padEnd(18)} a ${ra.toFixed(1).padStart(5)} Mbit/s  b ${rb.toFixed(1).padStart(5)} Mbit/s  total ${(ra + rb).toFixed(1).padStart(5)}  a's share ${ra + rb > 0 ? ((ra / (ra + rb)) * 100).toFixed(0) : '-'} %`,
    );
  }
  screen.log(
    `  raw packets around the tunnels: ${after - before} dropped at the gateway, ${got} delivered; through the tunnel ${gotTunnel} of 20 delivered`,
  );
  screen.log(`plot written to ${o.outFile}`);
  if (o.check) {
    // what the demo shows, as pass/fail (CI runs `scrooge demo --check`)
    const cap = o.capacity / 1e6;
    const share = (ph: string) => avg(ph, 'a') / (avg(ph, 'a') + avg(ph, 'b') || 1);
    const total = (ph: string) => avg(ph, 'a') + avg(ph, 'b');
    const near = (x: number, want: number, tol: number) => Math.abs(x - want) <= tol;
    const checks: Array<[string, boolean]> = [
      [
        `weights 3:1 give a 75 % (got ${(share('weights a:b = 3:1') * 100).toFixed(1)} %)`,
        near(share('weights a:b = 3:1'), 0.75, 0.05),
      ],
      [
        `weights 1:1 give a 50 % (got ${(share('weights a:b = 1:1') * 100).toFixed(1)} %)`,
        near(share('weights a:b = 1:1'), 0.5, 0.05),
      ],
      [
        `the capacity is used (got ${total('weights a:b = 1:1').toFixed(1)} of ${cap} Mbit/s)`,
        near(total('weights a:b = 1:1'), cap, cap * 0.1),
      ],
      [
        `share 0.5 halves it (got ${total('share 0.5').toFixed(1)} Mbit/s)`,
        near(total('share 0.5'), cap / 2, cap * 0.06),
      ],
      [
        `the filter drops every raw packet (dropped ${after - before}, delivered ${got})`,
        after - before >= 20 && got === 0,
      ],
      [`the same packets pass through the tunnel (${gotTunnel} of 20)`, gotTunnel >= 19],
    ];
    screen.log('');
    for (const [what, ok] of checks) screen.log(`check ${ok ? 'ok  ' : 'FAIL'}  ${what}`);
    if (checks.some(([, ok]) => !ok)) return 1;
  }
  if (o.keep) {
    screen.log('');
    screen.log('the mesh keeps running (Ctrl-C removes it). Try:');
    screen.log(`  ip netns exec ${gw.ns} node ${CLI} neighbors --state-dir ${gw.stateDir}`);
    screen.log(`  ip netns exec ${gw.ns} node ${CLI} set weight ${b.pk} 5 --state-dir ${gw.stateDir}`);
    screen.log(`  ip netns exec ${a.ns} ping 10.42.9.2`);
    await new Promise(() => {});
  }
  return 0;
}

function bar(a: number, b: number, capacityMbit: number): string {
  const width = 30;
  const cells = (x: number) => Math.max(0, Math.min(width, Math.round((x / capacityMbit) * width)));
  const na = cells(a);
  return `${'█'.repeat(na)}${'▒'.repeat(Math.max(0, cells(a + b) - na))}`;
}

async function filterDrops(n: Node): Promise<number> {
  const s = (await apiRequest(`${n.stateDir}/scrooge.sock`, 'GET', '/v1/status')) as {
    forwarding: { dropped: { mesh: { packets: number } } | null };
  };
  return s.forwarding.dropped?.mesh.packets ?? 0;
}

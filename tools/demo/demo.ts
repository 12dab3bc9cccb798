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
import { ControlError } from '../../src/errors.js';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiRequest } from '../../src/api.js';
import { flag, type OptionSpec, parseFlags, str } from '../../src/flags.js';
import { formatRate, parseDuration, parseRate } from '../../src/values.js';
import { isRoot, Lab, NFT } from '../lab.js';
import { findSystemBinary } from '../../src/system.js';
import { buildMesh, type Node } from './mesh.js';
import { report, type Sample } from './report.js';
import { bar, Screen } from './screen.js';

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

const TRAFFIC = fileURLToPath(new URL('./traffic.js', import.meta.url));

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
  // stdout closed under us (`scrooge demo | head`): take the mesh down all the same
  const onOutputGone = () => {
    interrupted = true;
    void cleanup().then(() => process.exit(141));
  };
  process.stdout.once('error', onOutputGone);
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
    process.stdout.removeListener('error', onOutputGone);
  }
}

async function run(
  lab: Lab,
  screen: Screen,
  o: { durationMs: number; capacity: number; outFile: string; keep: boolean; check: boolean },
): Promise<number> {
  const t0 = Date.now();
  const since = () => `${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s`;
  const mesh = await buildMesh(lab, screen, since, o.capacity);
  const { ns, gw, a, b, c, neighborsOf } = mesh;

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

  return report(mesh, { samples, phases, markers, filter: { dropped: after - before, got, gotTunnel } }, o, screen);
}

async function filterDrops(n: Node): Promise<number> {
  const s = (await apiRequest(`${n.stateDir}/scrooge.sock`, 'GET', '/v1/status')) as {
    forwarding: { dropped: { mesh: { packets: number } } | null };
  };
  return s.forwarding.dropped?.mesh.packets ?? 0;
}

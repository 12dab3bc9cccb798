/**
 * The gateway case: one hub with a neighbour on each of its interfaces (a star
 * of veths, one namespace per leaf). Measures how long the hub takes to have
 * every neighbour up, and what it costs when nothing happens: its CPU (% of
 * one core) and wake-ups (voluntary context switches) per second while idle.
 * Not part of `npm test`. Root only.
 *
 * Two windows after every neighbour is up: the warm-up (--settle-seconds),
 * in which V8 still compiles the control path's hot functions on its worker
 * threads (tens of ms each on this VM: 2.6 % of a core in the first 30 s,
 * 1.8 % in the next 30, measured), and then the idle window the target is
 * about, the steady state a long-running hub pays. Both are reported.
 *
 *   npm run build && node dist/bench/hub.js [--leaves 64] [--settle-seconds 60] [--idle-seconds 30]
 *                                         [--cli PATH]   (another build's dist/cli/main.js, for before/after)
 *                                         [--profile DIR] (a CPU profile of the hub, written when it stops)
 *                                         [--hello-interval 5s]
 *
 *        ┌─ h0 ── v0 [l0]
 *   [h] ─┼─ h1 ── v0 [l1]        h: scrooge up --interface h0 … --interface h63
 *        └─ …                    l*: scrooge up --interface v0
 *
 * Target (issue 11): with 64 leaves the hub idles under 2 % of a core and has
 * all 64 up within 60 s of its start.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { benchOption } from '../tools/args.js';
import { type DaemonHandle, startDaemon, status } from '../tools/daemons.js';
import { isRoot, Lab, waitFor } from '../tools/lab.js';
import { CLI as BUILT_CLI } from '../tools/paths.js';

const LEAVES = Number(benchOption('leaves', '64'));
const SETTLE_S = Number(benchOption('settle-seconds', '60'));
const IDLE_S = Number(benchOption('idle-seconds', '30'));
const CLI = benchOption('cli', '');
/** --hello-interval of every daemon (the default is the daemon's own, 5 s). */
const HELLO = benchOption('hello-interval', '');
/** Write a V8 CPU profile of the hub into this directory (node --cpu-prof), for where the idle time goes. */
const PROFILE = benchOption('profile', '');
const HZ = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

interface Sample {
  ticks: number;
  sys: number;
  switches: number;
  at: number;
}

function sample(pid: number): Sample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  const sw = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(st)?.[1] ?? 0);
  return { ticks: Number(rest[11]) + Number(rest[12]), sys: Number(rest[12]), switches: sw, at: performance.now() };
}

function rate(a: Sample, b: Sample): { cpuPct: number; sysPct: number; wakeupsPerSec: number } {
  const s = (b.at - a.at) / 1000;
  return {
    cpuPct: ((b.ticks - a.ticks) / HZ / s) * 100,
    sysPct: ((b.sys - a.sys) / HZ / s) * 100,
    wakeupsPerSec: (b.switches - a.switches) / s,
  };
}

async function main(): Promise<void> {
  if (!isRoot()) {
    console.error('bench/hub needs root (network namespaces)');
    process.exit(2);
  }
  const lab = new Lab('bq');
  const cleanup = () => lab.cleanup();
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    const hub = lab.addNs('h');
    const leaves = Array.from({ length: LEAVES }, (_, i) => lab.addNs(`l${i}`));
    leaves.forEach((ns, i) => lab.veth(hub, `h${i}`, ns, 'v0'));
    await lab.ready(60_000);
    const opts = CLI ? { command: ['node', CLI] } : {};
    const flags = ['--log-level', 'warn', ...(HELLO ? ['--hello-interval', HELLO, '--neighbor-timeout', '60m'] : [])];
    const leafDaemons: DaemonHandle[] = [];
    for (let i = 0; i < LEAVES; i++) {
      leafDaemons.push(await startDaemon(lab, leaves[i] as string, `l${i}`, ['v0'], flags, { ...opts }));
    }
    const started = performance.now();
    const h = await startDaemon(
      lab,
      hub,
      'h',
      leaves.map((_, i) => `h${i}`),
      flags,
      PROFILE ? { command: ['node', '--cpu-prof', `--cpu-prof-dir=${PROFILE}`, CLI || BUILT_CLI] } : opts,
    );
    const upCount = async () => {
      const st = await status(h);
      return (st.neighbors as { up: number }).up;
    };
    await waitFor(`all ${LEAVES} neighbours up at the hub`, async () => (await upCount()) === LEAVES, 180_000, 250);
    const upSeconds = (performance.now() - started) / 1000;
    console.log(`all ${LEAVES} up at the hub ${upSeconds.toFixed(1)} s after its start`);
    const pids = [h, ...leafDaemons].map((d) => d.proc.child.pid as number);
    const hubPid = pids[0] as number;
    const warm0 = sample(hubPid);
    await new Promise((r) => setTimeout(r, SETTLE_S * 1000));
    const warmup = rate(warm0, sample(hubPid));
    const controlOf = async () => (await status(h)).control as { rxDatagrams: number; txMessages: number };
    const c0 = await controlOf();
    const before = pids.map(sample);
    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    const after = pids.map(sample);
    const c1 = await controlOf();
    const hubRate = rate(before[0] as Sample, after[0] as Sample);
    const leafRates = pids.slice(1).map((_, i) => rate(before[i + 1] as Sample, after[i + 1] as Sample));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const stillUp = await upCount();
    const st = await status(h);
    // the profile is written when the hub exits: give it the time a clean stop of every tunnel takes
    if (PROFILE) await lab.stop(h.proc, 'SIGINT', 60_000);
    console.log(
      JSON.stringify(
        {
          leaves: LEAVES,
          allUpSeconds: Number(upSeconds.toFixed(1)),
          idleSeconds: IDLE_S,
          warmup: {
            seconds: SETTLE_S,
            cpuPct: Number(warmup.cpuPct.toFixed(2)),
            wakeupsPerSec: Math.round(warmup.wakeupsPerSec),
          },
          hub: {
            cpuPct: Number(hubRate.cpuPct.toFixed(2)),
            kernelPct: Number(hubRate.sysPct.toFixed(2)),
            wakeupsPerSec: Math.round(hubRate.wakeupsPerSec),
            controlRxPerSec: Number(((c1.rxDatagrams - c0.rxDatagrams) / IDLE_S).toFixed(1)),
            controlTxPerSec: Number(((c1.txMessages - c0.txMessages) / IDLE_S).toFixed(1)),
          },
          leafMean: {
            cpuPct: Number(mean(leafRates.map((r) => r.cpuPct)).toFixed(2)),
            wakeupsPerSec: Math.round(mean(leafRates.map((r) => r.wakeupsPerSec))),
          },
          upAtEnd: stillUp,
          interfaceReads: st.interfaceReads ?? null,
          target: { hubCpuPct: 2, allUpSeconds: 60 },
        },
        null,
        2,
      ),
    );
  } finally {
    await cleanup();
  }
}

void main().catch((e: unknown) => {
  console.error((e as Error).stack ?? String(e));
  process.exit(1);
});

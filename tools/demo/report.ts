/** The demo's end: the SVG plot, the summary per phase, and (with --check) pass/fail. */
import { writeFileSync } from 'node:fs';
import { formatRate } from '../../src/values.js';
import { lineChart, type Series } from '../svg.js';
import { CLI, type Mesh } from './mesh.js';
import type { Screen } from './screen.js';

export interface Sample {
  t: number;
  phase: string;
  rates: Record<string, number>;
}

export interface Outcome {
  samples: Sample[];
  phases: Array<{ name: string }>;
  markers: Array<[number, string]>;
  /** Raw packets around the tunnels: dropped by the gateway's filter, delivered anyway, and delivered through the tunnel. */
  filter: { dropped: number; got: number; gotTunnel: number };
}

export interface ReportOptions {
  capacity: number;
  outFile: string;
  keep: boolean;
  check: boolean;
}

/** Writes the plot and the summary; returns the exit code (1 if a check failed). */
export async function report(mesh: Mesh, r: Outcome, o: ReportOptions, screen: Screen): Promise<number> {
  const { samples, phases, markers } = r;
  const { gw, a, b } = mesh;
  const got = r.filter.got;
  const gotTunnel = r.filter.gotTunnel;
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
    `  raw packets around the tunnels: ${r.filter.dropped} dropped at the gateway, ${got} delivered; through the tunnel ${gotTunnel} of 20 delivered`,
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
        `the filter drops every raw packet (dropped ${r.filter.dropped}, delivered ${got})`,
        r.filter.dropped >= 20 && got === 0,
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

/**
 * End-to-end benchmark: raw veth, scrooge, fastd, nebula and wireguard-go in the same
 * run and topology (two namespaces over one veth, IPv6 underlay, inner MTU
 * 1420 for every tunnel). Prints medians over interleaved repetitions and
 * scrooge's ratio to each peer. Root only.
 *
 *   npm run build && node dist/bench/e2e.js [--seconds 8] [--repeat 3] [--json FILE] [--only scrooge,fastd]
 *
 * scrooge runs as the real daemon (`scrooge up` on each side, discovery and
 * handshake included); "scrooge, no TUN offload" runs it with --no-tun-offload
 * (one TUN read and write per packet, as 0.1 did); "scrooge + tc" adds
 * --capacity 100gbit, so every packet goes through traffic control without it
 * being the bottleneck.
 *
 *   ns a ── va ════ vb ── ns b      iperf3 client in a, server in b
 *
 * Metrics per peer: iperf3 TCP 1 stream and 4 streams (receiver Mbit/s),
 * idle ping RTT (median of 20 pings 0.25 s apart, nothing else running),
 * CPU seconds per GB (user+sys of both tunnel processes during the 1-stream
 * run, per GB received).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCommand, isRoot, Lab, waitFor } from '../tools/lab.js';
import { benchOption } from '../tools/args.js';
import { cpuSeconds, median } from '../tools/measure.js';
import { peerPair, peers } from '../tools/peers.js';

const opt = benchOption;
const SECONDS = Number(opt('seconds', '8'));
const REPEAT = Number(opt('repeat', '3'));
const ONLY = opt('only', '')
  .split(',')
  .filter((s) => s.length > 0);
const JSON_OUT = opt('json', '');

function iperf(lab: Lab, a: string, b: string, target: string, streams: number): number {
  const server = lab.spawn(b, ['iperf3', '-s', '-1', '-B', target]);
  try {
    execFileSync('ip', [
      'netns',
      'exec',
      b,
      'sh',
      '-c',
      'for i in $(seq 100); do ss -ltn | grep -q :5201 && exit 0; sleep 0.05; done; exit 1',
    ]);
    const out = lab.exec(a, ['iperf3', '-c', target, '-t', String(SECONDS), '-P', String(streams), '-J'], {
      timeoutMs: (SECONDS + 20) * 1000,
    });
    const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number; bytes: number } } };
    return j.end.sum_received.bits_per_second / 1e6;
  } finally {
    void lab.stop(server);
  }
}

function idlePing(lab: Lab, a: string, target: string): number {
  const verbose = lab.exec(a, ['ping', '-c', '20', '-i', '0.25', target, '-w', '15']);
  const times = [...verbose.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  return median(times) * 1000;
}

interface Result {
  tcp1: number[];
  tcp4: number[];
  rtt: number[];
  cpuPerGB: number[];
}

async function main(): Promise<void> {
  if (!isRoot()) {
    console.error('bench/e2e needs root (network namespaces)');
    process.exit(2);
  }
  for (const c of ['iperf3', 'ping', 'ip']) {
    if (!hasCommand(c)) {
      console.error(`bench/e2e needs ${c}`);
      process.exit(2);
    }
  }
  const selected = peers.filter((p) => ONLY.length === 0 || ONLY.some((o) => p.name.startsWith(o)));
  const results = new Map<string, Result>();
  const skipped: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'scrooge-bench-'));
  const lab = new Lab('bench');
  const started = Date.now();
  try {
    const { a, b } = peerPair(lab);
    for (let rep = 0; rep < REPEAT; rep++) {
      for (const peer of selected) {
        const why = peer.available();
        if (why) {
          if (rep === 0) skipped.push(`${peer.name}: ${why}`);
          continue;
        }
        const s = await peer.up(lab, a, b, dir);
        try {
          await waitFor(
            `${peer.name} connectivity`,
            () => lab.run(a, ['ping', '-c', '1', '-W', '1', s.target]).status === 0,
            20_000,
            100,
          );
          // warm-up: lets TCP and JITs settle, not measured
          lab.run(a, ['ping', '-c', '5', '-i', '0.01', '-q', s.target]);
          const r = results.get(peer.name) ?? { tcp1: [], tcp4: [], rtt: [], cpuPerGB: [] };
          r.rtt.push(idlePing(lab, a, s.target));
          const t0 = s.pids.reduce((acc, p) => acc + cpuSeconds(p), 0);
          const mbit1 = iperf(lab, a, b, s.target, 1);
          const t1 = s.pids.reduce((acc, p) => acc + cpuSeconds(p), 0);
          r.tcp1.push(mbit1);
          const gb = (mbit1 * SECONDS) / 8 / 1000;
          if (s.pids.length > 0 && gb > 0) r.cpuPerGB.push((t1 - t0) / gb);
          r.tcp4.push(iperf(lab, a, b, s.target, 4));
          results.set(peer.name, r);
          process.stderr.write(
            `rep ${rep + 1}/${REPEAT} ${peer.name}: tcp1 ${mbit1.toFixed(0)} tcp4 ${(r.tcp4.at(-1) ?? 0).toFixed(0)} Mbit/s, rtt ${(r.rtt.at(-1) ?? 0).toFixed(0)} µs\n`,
          );
        } finally {
          await s.stop();
        }
      }
    }
  } finally {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }

  const rows = [...results.entries()].map(([name, r]) => ({
    name,
    tcp1: median(r.tcp1),
    tcp4: median(r.tcp4),
    rtt: median(r.rtt),
    cpu: r.cpuPerGB.length ? median(r.cpuPerGB) : Number.NaN,
  }));
  const fmt = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
  const ratio = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : 'n/a');
  const signed = (x: number) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(1)} %` : 'n/a');
  const lines = [
    `bench/e2e: medians of ${REPEAT} runs, ${SECONDS} s iperf3 each, inner MTU 1420, node ${process.version}, ${((Date.now() - started) / 1000).toFixed(0)} s total`,
    '',
    '| tunnel | TCP 1 stream Mbit/s | TCP 4 streams Mbit/s | idle ping RTT µs | CPU s/GB |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.name} | ${fmt(r.tcp1)} | ${fmt(r.tcp4)} | ${fmt(r.rtt)} | ${fmt(r.cpu, 1)} |`),
  ];
  const us = rows.find((r) => r.name === 'scrooge');
  const withTc = rows.find((r) => r.name === 'scrooge + tc');
  const noOffload = rows.find((r) => r.name === 'scrooge, no TUN offload');
  if (us && noOffload) {
    lines.push(
      '',
      `TUN offloads on relative to off: TCP 1 stream ${ratio(us.tcp1 / noOffload.tcp1)}, 4 streams ${ratio(us.tcp4 / noOffload.tcp4)}, CPU per GB ${ratio(us.cpu / noOffload.cpu)}`,
    );
  }
  if (us && withTc) {
    lines.push(
      '',
      `throughput with traffic control on (not limiting) relative to off: TCP 1 stream ${signed((withTc.tcp1 / us.tcp1 - 1) * 100)}, 4 streams ${signed((withTc.tcp4 / us.tcp4 - 1) * 100)}`,
    );
  }
  if (us) {
    lines.push('', "scrooge's ratio to each peer (TCP: higher is better; RTT and CPU: lower is better):", '');
    lines.push('| vs | TCP 1 stream | TCP 4 streams | idle RTT | CPU s/GB |', '|---|---|---|---|---|');
    for (const r of rows) {
      if (r === us || r === withTc || r === noOffload || r.name === 'veth (raw)') continue;
      lines.push(
        `| ${r.name} | ${ratio(us.tcp1 / r.tcp1)} | ${ratio(us.tcp4 / r.tcp4)} | ${ratio(us.rtt / r.rtt)} | ${ratio(us.cpu / r.cpu)} |`,
      );
    }
  }
  for (const s of skipped) lines.push(`skipped ${s}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  if (JSON_OUT)
    writeFileSync(
      JSON_OUT,
      JSON.stringify({ seconds: SECONDS, repeat: REPEAT, results: Object.fromEntries(results), rows }, null, 2),
    );
}

await main();

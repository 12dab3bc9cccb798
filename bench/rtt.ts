/**
 * Idle round-trip latency of one tunnel, A/B: two namespaces over a veth, the
 * tunnel-node fixture at each end (keys given, no discovery), ping through it
 * at a chosen interval. Configurations are interleaved run by run, so the
 * machine's drift hits them alike; each line gives the median RTT of every run
 * and the daemons' CPU while the pings ran. Root only.
 *
 *   npm run build && node dist/bench/rtt.js [--interval 0.25] [--count 40] [--repeat 6]
 *       [--configs '[{}, {"offload": false}, {"warmMs": 0}]']
 *
 * A configuration is the fixture's config (test/fixtures/tunnel-node.ts: offload, drain,
 * warmMs, gso, gro) plus `root`: another checkout's directory (its dist/ is run instead),
 * to compare two builds in the same run, and `nodeArgs`: options for node itself
 * (e.g. ["--use-largepages=on"]).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deriveSessionKeys, selectBackend, tunnelKeyPair } from '../crypto/index.js';
import { benchOption } from '../tools/args.js';
import { isRoot, Lab } from '../tools/lab.js';
import { cpuSeconds, median } from '../tools/measure.js';
import { hexSessionKeys } from '../tools/tunnelnode.js';

const INTERVAL = benchOption('interval', '0.25');
const COUNT = Number(benchOption('count', '40'));
const REPEAT = Number(benchOption('repeat', '6'));
type RttConfig = Record<string, unknown> & { root?: string; nodeArgs?: string[] };
const CONFIGS = JSON.parse(benchOption('configs', '[{}]')) as RttConfig[];
const HERE = fileURLToPath(new URL('../test/fixtures/tunnel-node.js', import.meta.url));

async function main(): Promise<void> {
  if (!isRoot()) {
    console.error('bench/rtt needs root (network namespaces)');
    process.exit(2);
  }
  const backend = selectBackend('auto').backend;
  const ka = tunnelKeyPair(backend, new Uint8Array(32).fill(1));
  const kb = tunnelKeyPair(backend, new Uint8Array(32).fill(2));
  const lab = new Lab('rtt');
  const rtts = CONFIGS.map(() => [] as number[]);
  const cpus = CONFIGS.map(() => [] as number[]);
  try {
    const a = lab.addNs('a');
    const b = lab.addNs('b');
    lab.veth(a, 'va', b, 'vb', { addrA: ['fe80::a/64'], addrB: ['fe80::b/64'] });
    for (let rep = 0; rep < REPEAT; rep++) {
      for (const [i, c] of CONFIGS.entries()) {
        const { root, nodeArgs = [], ...extra } = c;
        const fixture = root ? join(root, 'dist/test/fixtures/tunnel-node.js') : HERE;
        const cfg = (isA: boolean) =>
          JSON.stringify({
            name: isA ? 'rA' : 'rB',
            mtu: 1420,
            port: isA ? 51850 : 51851,
            peer: { host: isA ? 'fe80::b' : 'fe80::a', port: isA ? 51851 : 51850, scope: isA ? 'va' : 'vb' },
            addresses: [isA ? '10.81.0.1/24' : '10.81.0.2/24'],
            keys: hexSessionKeys(deriveSessionKeys(backend, isA ? ka : kb, (isA ? kb : ka).publicKey)),
            role: isA ? 'initiator' : 'responder',
            ...extra,
          });
        const pa = lab.spawn(a, ['node', ...nodeArgs, fixture, cfg(true)], { stdin: true });
        const pb = lab.spawn(b, ['node', ...nodeArgs, fixture, cfg(false)], { stdin: true });
        try {
          await pa.waitLine((l) => l.includes('"ready"'), 15_000, 'node a ready');
          await pb.waitLine((l) => l.includes('"ready"'), 15_000, 'node b ready');
          lab.run(a, ['ping', '-c', '5', '-i', '0.01', '-q', '10.81.0.2']);
          const t0 = cpuSeconds(pa.pid) + cpuSeconds(pb.pid);
          const w0 = Date.now();
          const out = lab.run(a, ['ping', '-c', String(COUNT), '-i', INTERVAL, '10.81.0.2'], 600_000).stdout;
          const secs = (Date.now() - w0) / 1000;
          cpus[i]?.push(((cpuSeconds(pa.pid) + cpuSeconds(pb.pid) - t0) / secs / 2) * 100);
          rtts[i]?.push(median([...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]) * 1000)));
        } finally {
          await lab.stop(pa);
          await lab.stop(pb);
        }
      }
    }
  } finally {
    await lab.cleanup();
  }
  console.log(`bench/rtt: ping every ${INTERVAL} s, ${COUNT} pings per run, ${REPEAT} interleaved runs`);
  CONFIGS.forEach((c, i) => {
    const r = rtts[i] ?? [];
    const u = cpus[i] ?? [];
    console.log(
      `${JSON.stringify(c)}: median ${median(r).toFixed(0)} µs (runs ${r.map((x) => x.toFixed(0)).join(' ')}); ` +
        `CPU per daemon ${median(u).toFixed(2)} %`,
    );
  });
}

await main();

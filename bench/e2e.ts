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
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../crypto/index.js';
import { neighbors, startDaemon, waitUp } from '../tools/daemons.js';
import { hasCommand, isRoot, Lab, type Proc, waitFor } from '../tools/lab.js';
import { benchOption } from '../tools/args.js';
import { cpuSeconds, median } from '../tools/measure.js';

const opt = benchOption;
const SECONDS = Number(opt('seconds', '8'));
const REPEAT = Number(opt('repeat', '3'));
const ONLY = opt('only', '')
  .split(',')
  .filter((s) => s.length > 0);
const JSON_OUT = opt('json', '');

interface Setup {
  /** Address of b reachable through the tunnel (or raw). */
  target: string;
  /** Processes whose CPU is counted. */
  pids: number[];
  stop(): Promise<void>;
}

interface Peer {
  name: string;
  available(): string | undefined; // reason if not
  up(lab: Lab, a: string, b: string, dir: string): Promise<Setup>;
}

const peers: Peer[] = [
  {
    name: 'veth (raw)',
    available: () => undefined,
    async up() {
      return { target: '10.99.0.2', pids: [], stop: async () => {} };
    },
  },
  {
    name: 'scrooge',
    available: () => undefined,
    up: (lab, a, b) => scroogeUp(lab, a, b, []),
  },
  {
    name: 'scrooge, no TUN offload',
    available: () => undefined,
    // every packet crosses the TUN boundary on its own (0.1 behaviour): the offloads' baseline
    up: (lab, a, b) => scroogeUp(lab, a, b, ['--no-tun-offload']),
  },
  {
    name: 'scrooge + tc',
    available: () => undefined,
    // traffic control on (every packet through the scheduler) but never the bottleneck
    up: (lab, a, b) => scroogeUp(lab, a, b, ['--capacity', '100gbit']),
  },
  {
    name: 'fastd',
    available: () => (hasCommand('fastd') ? undefined : 'fastd not installed (apt-get install fastd)'),
    async up(lab, a, b, dir) {
      const key = () => {
        const out = execFileSync('fastd', ['--generate-key'], { encoding: 'utf8' });
        return { secret: /Secret: (\w+)/.exec(out)?.[1] ?? '', pub: /Public: (\w+)/.exec(out)?.[1] ?? '' };
      };
      const ka = key();
      const kb = key();
      const conf = (ifname: string, secret: string, peerPub: string, remote: string) =>
        `log level error;\nmode tun;\ninterface "${ifname}";\nmethod "salsa2012+umac";\nsecret "${secret}";\nmtu 1420;\nbind any port 10000;\npeer "p" { key "${peerPub}"; remote [${remote}]:10000; }\n`;
      writeFileSync(join(dir, 'fa.conf'), conf('fdA', ka.secret, kb.pub, 'fd00::b'));
      writeFileSync(join(dir, 'fb.conf'), conf('fdB', kb.secret, ka.pub, 'fd00::a'));
      const pa = lab.spawn(a, ['fastd', '-c', join(dir, 'fa.conf')]);
      const pb = lab.spawn(b, ['fastd', '-c', join(dir, 'fb.conf')]);
      await waitFor(
        'fastd devices',
        () =>
          lab.run(a, ['ip', 'link', 'show', 'fdA']).status === 0 &&
          lab.run(b, ['ip', 'link', 'show', 'fdB']).status === 0,
      );
      lab.ip(a, 'addr', 'add', '10.88.2.1/24', 'dev', 'fdA');
      lab.ip(b, 'addr', 'add', '10.88.2.2/24', 'dev', 'fdB');
      lab.ip(a, 'link', 'set', 'fdA', 'up');
      lab.ip(b, 'link', 'set', 'fdB', 'up');
      return { target: '10.88.2.2', pids: [pa.pid, pb.pid], stop: () => stopAll(lab, [pa, pb]) };
    },
  },
  {
    name: 'nebula',
    available: () =>
      hasCommand('nebula') && hasCommand('nebula-cert') ? undefined : 'nebula not installed (apt-get install nebula)',
    async up(lab, a, b, dir) {
      // a CA, a certificate per side, no lighthouse: each side names the other's underlay address
      const cert = (...args: string[]) => execFileSync('nebula-cert', args, { cwd: dir, stdio: 'ignore' });
      const stamp = Math.random().toString(36).slice(2, 7);
      const f = (name: string) => join(dir, `${stamp}-${name}`);
      cert('ca', '-name', 'bench', '-out-crt', f('ca.crt'), '-out-key', f('ca.key'));
      const side = (name: string, ip: string, dev: string, peerIp: string, peerUnderlay: string) => {
        cert(
          'sign',
          '-ca-crt',
          f('ca.crt'),
          '-ca-key',
          f('ca.key'),
          '-name',
          name,
          '-ip',
          `${ip}/24`,
          '-out-crt',
          f(`${name}.crt`),
          '-out-key',
          f(`${name}.key`),
        );
        const any = '[{ port: any, proto: any, host: any }]';
        writeFileSync(
          f(`${name}.yml`),
          [
            `pki: { ca: "${f('ca.crt')}", cert: "${f(`${name}.crt`)}", key: "${f(`${name}.key`)}" }`,
            `static_host_map: { "${peerIp}": ["[${peerUnderlay}]:4242"] }`,
            'lighthouse: { am_lighthouse: false, hosts: [] }',
            'listen: { host: "[::]", port: 4242 }',
            'punchy: { punch: false }',
            `tun: { dev: ${dev}, mtu: 1420 }`,
            'logging: { level: error }',
            `firewall: { outbound: ${any}, inbound: ${any} }`,
            '',
          ].join('\n'),
        );
        return f(`${name}.yml`);
      };
      const ca = side('a', '10.88.4.1', 'nebA', '10.88.4.2', 'fd00::b');
      const cb = side('b', '10.88.4.2', 'nebB', '10.88.4.1', 'fd00::a');
      const pa = lab.spawn(a, ['nebula', '-config', ca]);
      const pb = lab.spawn(b, ['nebula', '-config', cb]);
      await waitFor(
        'nebula devices',
        () =>
          lab.run(a, ['ip', 'link', 'show', 'nebA']).status === 0 &&
          lab.run(b, ['ip', 'link', 'show', 'nebB']).status === 0,
      );
      return { target: '10.88.4.2', pids: [pa.pid, pb.pid], stop: () => stopAll(lab, [pa, pb]) };
    },
  },
  {
    name: 'wireguard-go',
    available: () =>
      hasCommand('wireguard-go') ? undefined : 'wireguard-go not installed (apt-get install wireguard-go)',
    async up(lab, a, b) {
      const backend = selectBackend('auto').backend;
      const sa = randomBytes(32);
      const sb = randomBytes(32);
      const pubA = backend.x25519PublicKey(sa);
      const pubB = backend.x25519PublicKey(sb);
      const hex = (x: Uint8Array) => Buffer.from(x).toString('hex');
      const names = [`wga${process.pid % 100000}`, `wgb${process.pid % 100000}`] as const;
      const pa = lab.spawn(a, ['wireguard-go', '-f', names[0]], { env: { LOG_LEVEL: 'error' } });
      const pb = lab.spawn(b, ['wireguard-go', '-f', names[1]], { env: { LOG_LEVEL: 'error' } });
      const uapi = async (ifname: string, body: string) => {
        const path = `/var/run/wireguard/${ifname}.sock`;
        await waitFor(`${path}`, () => {
          try {
            readFileSync(path);
          } catch (e) {
            return (e as NodeJS.ErrnoException).code === 'ENXIO' || (e as NodeJS.ErrnoException).code === 'EOPNOTSUPP';
          }
          return true;
        });
        await new Promise<void>((resolve, reject) => {
          const s = connect(path);
          let reply = '';
          s.on('data', (d) => {
            reply += d.toString();
            if (reply.endsWith('\n\n')) {
              s.end();
              if (reply.includes('errno=0')) resolve();
              else reject(new Error(`wireguard-go UAPI: ${reply}`));
            }
          });
          s.on('error', reject);
          s.write(`set=1\n${body}\n`);
        });
      };
      await uapi(
        names[0],
        `private_key=${hex(sa)}\nlisten_port=51000\npublic_key=${hex(pubB)}\nendpoint=[fd00::b]:51001\nallowed_ip=10.88.3.2/32\n`,
      );
      await uapi(
        names[1],
        `private_key=${hex(sb)}\nlisten_port=51001\npublic_key=${hex(pubA)}\nendpoint=[fd00::a]:51000\nallowed_ip=10.88.3.1/32\n`,
      );
      lab.ip(a, 'addr', 'add', '10.88.3.1/24', 'dev', names[0]);
      lab.ip(b, 'addr', 'add', '10.88.3.2/24', 'dev', names[1]);
      lab.ip(a, 'link', 'set', names[0], 'mtu', '1420', 'up');
      lab.ip(b, 'link', 'set', names[1], 'mtu', '1420', 'up');
      return { target: '10.88.3.2', pids: [pa.pid, pb.pid], stop: () => stopAll(lab, [pa, pb]) };
    },
  },
];

/** Two real daemons (discovery and handshake included), node addresses on the tunnel devices. */
async function scroogeUp(lab: Lab, a: string, b: string, extra: string[]): Promise<Setup> {
  const flags = ['--forwarding', 'off', '--log-level', 'warn', ...extra];
  const stamp = Math.random().toString(36).slice(2, 7);
  const da = await startDaemon(lab, a, `a-${stamp}`, ['va'], ['--address', '10.88.1.1/32', ...flags]);
  const db = await startDaemon(lab, b, `b-${stamp}`, ['vb'], ['--address', '10.88.1.2/32', ...flags]);
  await Promise.all([waitUp(da, 1), waitUp(db, 1)]);
  lab.ip(a, 'route', 'replace', '10.88.1.2/32', 'dev', (await neighbors(da))[0]?.tun as string);
  lab.ip(b, 'route', 'replace', '10.88.1.1/32', 'dev', (await neighbors(db))[0]?.tun as string);
  return { target: '10.88.1.2', pids: [da.proc.pid, db.proc.pid], stop: () => stopAll(lab, [da.proc, db.proc]) };
}

async function stopAll(lab: Lab, procs: Proc[]): Promise<void> {
  await Promise.all(procs.map((p) => lab.stop(p)));
}

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
    const a = lab.addNs('a');
    const b = lab.addNs('b');
    lab.veth(a, 'va', b, 'vb', {
      addrA: ['fe80::a/64', 'fd00::a/64', '10.99.0.1/24'],
      addrB: ['fe80::b/64', 'fd00::b/64', '10.99.0.2/24'],
    });
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

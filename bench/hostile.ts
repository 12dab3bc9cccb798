/**
 * Soak under attack (doc/HOSTILE.md): a live node carries a real TCP transfer
 * while an on-link attacker sends it 10^6 mixed hostile datagrams (random,
 * truncated, mutated, replayed, forged-valid from fresh keys; to the control
 * port and to the tunnel port). Not part of `npm test`. Root only.
 *
 *   npm run build && node dist/bench/hostile.js [--total 1000000] [--rate 20000] [--clean-seconds 15]
 *
 *   [n] vn ─┐                 n: the node under attack (iperf3 server on its node address)
 *   [p] vp ─┼─ br (ns "s")    p: a real neighbour, iperf3 client through the tunnel
 *   [x] vx ─┘                 x: the attacker, 20 spoofed link-local addresses
 *
 * Reports: datagrams per second sustained, the transfer's throughput under
 * attack as a fraction of clean (same run), n's CPU (% of one core) and RSS
 * (max), n's drop counters, and whether n survived with its tunnel up.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { neighbors, startDaemon, status, waitUp } from '../tools/daemons.js';
import { isRoot, Lab, waitFor } from '../tools/lab.js';
import { cpuSeconds } from '../tools/measure.js';
import { pcapFrames, udpPayloads } from '../tools/pcap.js';
import { benchOption } from '../tools/args.js';

const opt = benchOption;
const TOTAL = Number(opt('total', '1000000'));
const RATE = Number(opt('rate', '20000'));
const CLEAN_SECONDS = Number(opt('clean-seconds', '15'));
const SENDER = fileURLToPath(new URL('./hostile-sender.js', import.meta.url));

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

function iperfMbit(lab: Lab, client: string, target: string, seconds: number): number {
  const out = lab.exec(client, ['iperf3', '-c', target, '-t', String(seconds), '-J'], {
    timeoutMs: (seconds + 30) * 1000,
  });
  const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
  return j.end.sum_received.bits_per_second / 1e6;
}

async function iperfServer(lab: Lab, ns: string, bind: string): Promise<void> {
  lab.spawn(ns, ['iperf3', '-s', '-1', '-B', bind]);
  await waitFor('iperf3 server', () => lab.run(ns, ['ss', '-ltn', 'sport = :5201']).stdout.includes('5201'));
}

async function main(): Promise<void> {
  if (!isRoot()) {
    console.error('bench/hostile needs root (network namespaces)');
    process.exit(2);
  }
  const started = Date.now();
  const lab = new Lab('bh');
  const cleanup = () => lab.cleanup();
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    const ns = lab.bridged(['n', 'p', 'x']);
    const sources = Array.from({ length: 20 }, (_, i) => `fe80::6:${(i + 1).toString(16)}`);
    for (const a of sources) lab.ip(ns.x as string, 'addr', 'add', `${a}/64`, 'dev', 'vx', 'nodad');
    await lab.ready();
    const flags = ['--log-level', 'warn'];
    const n = await startDaemon(lab, ns.n as string, 'n', ['vn'], ['--address', '10.88.1.1/32', ...flags]);
    const p = await startDaemon(lab, ns.p as string, 'p', ['vp'], ['--address', '10.88.1.2/32', ...flags]);
    await Promise.all([waitUp(n, 1), waitUp(p, 1)]);
    lab.ip(ns.n as string, 'route', 'replace', '10.88.1.2/32', 'dev', (await neighbors(n))[0]?.tun as string);
    lab.ip(ns.p as string, 'route', 'replace', '10.88.1.1/32', 'dev', (await neighbors(p))[0]?.tun as string);
    const st = await status(n);
    const nKey = st.publicKey as string;
    const tunnelPort = (st.tunnelSockets as Array<{ port: number }>)[0]?.port ?? 0;
    const nLinkLocal = lab
      .exec(ns.n as string, ['ip', '-6', '-o', 'addr', 'show', 'dev', 'vn', 'scope', 'link'])
      .match(/inet6 (fe80::[0-9a-f:]+)\//)?.[1];
    if (!nLinkLocal) throw new Error('no link-local address on vn');

    // what an on-link attacker sniffs: control messages and tunnel datagrams to n
    const pcap = join(lab.dir, 'capture.pcap');
    const dump = lab.spawn(ns.s as string, ['tcpdump', '-i', 'pn', '-U', '-n', '-w', pcap, 'udp']);
    await dump.waitLine((l) => l.includes('listening on'), 10_000, 'tcpdump');
    lab.exec(ns.p as string, ['ping', '-c', '20', '-i', '0.05', '10.88.1.1']);
    await new Promise((r) => setTimeout(r, 6000)); // a hello round
    await lab.stop(dump, 'SIGINT');
    const dgrams = udpPayloads(pcapFrames(readFileSync(pcap)));
    rmSync(pcap, { force: true });
    const capturedControl = dgrams.filter((d) => d.dport === 8481).map((d) => d.payload.toString('hex'));
    const capturedTunnel = dgrams
      .filter((d) => d.dport === tunnelPort && d.payload[0] === 1)
      .map((d) => d.payload.toString('hex'));

    // clean
    await iperfServer(lab, ns.n as string, '10.88.1.1');
    const clean = iperfMbit(lab, ns.p as string, '10.88.1.1', CLEAN_SECONDS);

    const attackSeconds = Math.ceil(TOTAL / RATE);
    const senderArgs = (decoy: boolean) => [
      'node',
      SENDER,
      JSON.stringify({
        iface: 'vx',
        sources,
        node: nLinkLocal,
        controlPort: 8481,
        tunnelPort,
        nodeKey: nKey,
        capturedControl,
        capturedTunnel,
        total: TOTAL,
        rate: RATE,
        decoy,
      }),
    ];

    // baseline: the attacker's CPU load on this shared machine, its datagrams going nowhere
    await iperfServer(lab, ns.n as string, '10.88.1.1');
    const decoySender = lab.spawn(ns.x as string, senderArgs(true));
    const decoy = iperfMbit(lab, ns.p as string, '10.88.1.1', attackSeconds);
    await decoySender.exited;

    // under attack: the transfer runs as long as the attack
    await iperfServer(lab, ns.n as string, '10.88.1.1');
    const cpu0 = cpuSeconds(n.proc.pid);
    const t0 = Date.now();
    const sender = lab.spawn(ns.x as string, senderArgs(false));
    const rssStart = rssMB(n.proc.pid);
    let rssMax = rssStart;
    const rssSeries: number[] = [];
    const sampler = setInterval(() => {
      try {
        const r = rssMB(n.proc.pid);
        rssMax = Math.max(rssMax, r);
        rssSeries.push(r);
      } catch {
        // gone: reported below
      }
    }, 1000);
    const client = lab.spawn(ns.p as string, ['iperf3', '-c', '10.88.1.1', '-t', String(attackSeconds), '-J']);
    const senderCode = await sender.exited;
    const clientCode = await client.exited;
    clearInterval(sampler);
    const wall = (Date.now() - t0) / 1000;
    const alive = n.proc.child.exitCode === null;
    const cpu = alive ? ((cpuSeconds(n.proc.pid) - cpu0) / wall) * 100 : Number.NaN;
    const attack = JSON.parse(sender.lines[sender.lines.length - 1] ?? '{}') as {
      sent: number;
      seconds: number;
      perSecond: number;
      counts: Record<string, number>;
    };
    const underAttack =
      clientCode === 0
        ? (JSON.parse(client.lines.join('\n')) as { end: { sum_received: { bits_per_second: number } } }).end
            .sum_received.bits_per_second / 1e6
        : 0;
    const after = alive ? await status(n) : undefined;
    const stillUp = alive ? (await neighbors(n)).some((x) => x.state === 'up') : false;
    const ctl = (after?.control ?? {}) as Record<string, number>;
    const sock = (after?.tunnelSockets as Array<{ counters: Record<string, number> }> | undefined)?.[0]?.counters ?? {};
    const nb = alive ? (await neighbors(n)).find((x) => x.state === 'up') : undefined;

    const rows: Array<[string, string]> = [
      ['hostile datagrams sent', `${attack.sent} in ${attack.seconds.toFixed(1)} s (sender exit ${senderCode})`],
      ['sustained rate', `${Math.round(attack.perSecond)} datagrams/s`],
      ['legitimate TCP, clean', `${clean.toFixed(0)} Mbit/s`],
      ["legitimate TCP, attacker's CPU load only (decoy)", `${decoy.toFixed(0)} Mbit/s`],
      ['legitimate TCP, under attack', `${underAttack.toFixed(0)} Mbit/s`],
      ['under attack / clean', `${((underAttack / clean) * 100).toFixed(0)} %`],
      ['under attack / decoy', `${((underAttack / decoy) * 100).toFixed(0)} %`],
      ["node's CPU during the attack", `${cpu.toFixed(0)} % of one core`],
      [
        "node's RSS",
        `${rssStart.toFixed(0)} MB before, ${rssMax.toFixed(0)} MB max, every 10 s: ${rssSeries
          .filter((_, i) => i % 10 === 9)
          .map((r) => r.toFixed(0))
          .join(' ')} MB`,
      ],
      ['node alive, tunnel up afterwards', `${alive ? 'yes' : 'NO'}, ${stillUp ? 'yes' : 'NO'}`],
      [
        'control drops',
        `decode ${ctl.dropDecode ?? 0}, old seq ${ctl.dropOldSeq ?? 0}, bad signature ${ctl.dropBadSignature ?? 0}, rate-limited ${ctl.dropRateLimited ?? 0}, per-source ${ctl.dropPerSourceLimit ?? 0}`,
      ],
      [
        'tunnel socket drops',
        `malformed ${sock.dropMalformed ?? 0}, unknown session ${sock.dropUnknownSession ?? 0}; tunnel: bad tag ${nb?.drops.badTag ?? 0}, replay ${nb?.drops.replay ?? 0}, malformed ${nb?.drops.malformed ?? 0}`,
      ],
    ];
    const w = Math.max(...rows.map((r) => r[0].length));
    console.log(
      `bench/hostile: ${TOTAL} datagrams at ${RATE}/s; 2 vCPU shared by node, neighbour, attacker and iperf3; node ${process.version}; ${((Date.now() - started) / 1000).toFixed(0)} s total\n`,
    );
    console.log(`| ${'measure'.padEnd(w)} | result |\n| ${'-'.repeat(w)} | ------ |`);
    for (const [k, v] of rows) console.log(`| ${k.padEnd(w)} | ${v} |`);
    console.log(`\nmix: ${JSON.stringify(attack.counts)}`);
    if (!alive || !stillUp) process.exitCode = 1;
  } finally {
    await cleanup();
  }
}

await main();

/**
 * TUN offloads on real devices: two namespaces, one tunnel (the tunnel-node
 * fixture), every combination of offloads on and off at either end (the
 * wire does not change, so mixed pairs must work). Each combination carries:
 *
 *   - TCP over IPv4 and IPv6 inner, both directions at once (full duplex on
 *     two connections), every byte checked by SHA-256 at the far end;
 *   - UDP datagrams of every size up to 1500, then in steps up to the largest
 *     IPv4 and IPv6 datagram (fragmented inside the tunnel), each echoed and
 *     compared byte for byte;
 *   - UDP GSO from a sender (UDP_SEGMENT: the kernel hands the daemon USO
 *     super-packets where the TUN takes them), every datagram echoed;
 *   - ICMP echo from 56 bytes to 65000 (fragments) over IPv4 and IPv6;
 *
 * and then checks the kernels' own verdicts: no TCP, UDP or ICMP checksum
 * error in either namespace (the kernel verifies every packet the daemon
 * writes alone; a coalesced one carries only packets the daemon verified),
 * and the offload counters say the split and coalesce paths really ran.
 */
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { deriveSessionKeys, tunnelKeyPair } from '../crypto/index.js';
import { defaultTestBackend, prng } from './helpers/backends.js';
import { hasCommand, isRoot, Lab, type Proc, waitFor } from './helpers/netns.js';
import { rootTest } from './helpers/root.js';
import { expectedSha } from './fixtures/traffic.js';
import { hexSessionKeys } from '../tools/tunnelnode.js';

const NODE = fileURLToPath(new URL('./fixtures/tunnel-node.js', import.meta.url));
const TRAFFIC = fileURLToPath(new URL('./fixtures/traffic.js', import.meta.url));
const BYTES = 24 << 20;
const UDP_SIZES_V4 = '0-1500,1501-9000:37,9001-65507:997,65507';
const UDP_SIZES_V6 = '0-1500,1501-9000:37,9001-65527:997,65527';

const backend = defaultTestBackend();

interface TunnelStats {
  offload: { vnetHdr: boolean; tso: boolean; uso: boolean };
  counters: Record<string, number>;
  tunReads: { superPackets: number; offloadBad: number };
  tunWrites: { superPackets: number; merged: number; badChecksum: number; errors: number };
}

const lab = new Lab('off');
let nsA = '';
let nsB = '';
let echo: Proc | undefined;
let tcpServer: Proc | undefined;

test.serial.before(() => {
  if (!isRoot()) return;
  nsA = lab.addNs('a');
  nsB = lab.addNs('b');
  lab.veth(nsA, 'va', nsB, 'vb', { addrA: ['fe80::a/64'], addrB: ['fe80::b/64'] });
});

test.serial.after.always(async () => {
  await lab.cleanup();
});

async function stats(node: Proc): Promise<TunnelStats> {
  const before = node.lines.length;
  node.send('{"op":"stats"}');
  const line = await waitFor('stats', () => node.lines.slice(before).find((l) => l.includes('"event":"stats"')), 5000);
  return JSON.parse(line) as TunnelStats;
}

/** The kernel's checksum-error counters in a namespace (IPv4 and IPv6, TCP, UDP, ICMP). */
function checksumErrors(ns: string): Record<string, number> {
  const out: Record<string, number> = {};
  const snmp = lab.exec(ns, ['cat', '/proc/net/snmp']).split('\n');
  for (let i = 0; i + 1 < snmp.length; i += 2) {
    const names = (snmp[i] as string).split(/\s+/);
    const values = (snmp[i + 1] as string).split(/\s+/);
    const proto = (names[0] as string).replace(':', '');
    names.forEach((n, j) => {
      if (/CsumErrors|InHdrErrors/.test(n)) out[`${proto}${n}`] = Number(values[j]);
    });
  }
  for (const line of lab.exec(ns, ['cat', '/proc/net/snmp6']).split('\n')) {
    const [n, v] = line.split(/\s+/);
    if (n && /CsumErrors|InHdrErrors/.test(n)) out[n] = Number(v);
  }
  return out;
}

function startNode(ns: string, a: boolean, offload: boolean, keys: object): Proc {
  const cfg = {
    name: a ? 'oA' : 'oB',
    mtu: 1420,
    port: a ? 51830 : 51831,
    peer: { host: a ? 'fe80::b' : 'fe80::a', port: a ? 51831 : 51830, scope: a ? 'va' : 'vb' },
    addresses: a ? ['10.78.0.1/24', 'fd78::1/64'] : ['10.78.0.2/24', 'fd78::2/64'],
    keys,
    role: a ? 'initiator' : 'responder',
    offload,
  };
  return lab.spawn(ns, ['node', NODE, JSON.stringify(cfg)], { stdin: true });
}

/** UDP_SEGMENT from python: `rounds` sends of 64 datagrams of `seg` bytes; counts the echoes. */
const USO_SENDER = `
import json, socket, sys
host, port, seg, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(17, 103, seg)  # SOL_UDP, UDP_SEGMENT
s.settimeout(3)
ok = bad = 0
for r in range(rounds):
    want = {(r * 64 + k) & 255 for k in range(64)}
    s.sendto(b''.join(bytes([(r * 64 + k) & 255]) * seg for k in range(64)), (host, port))
    try:
        while want:
            m = s.recv(65535)
            if len(m) == seg and m == bytes([m[0]]) * seg and m[0] in want:
                want.discard(m[0]); ok += 1
            else:
                bad += 1
    except socket.timeout:
        pass
print(json.dumps({"ok": ok, "bad": bad, "want": rounds * 64}))
`;

const COMBOS: [boolean, boolean][] = [
  [true, true],
  [true, false],
  [false, true],
  [false, false],
];
const onOff = (x: boolean) => (x ? 'on' : 'off');

for (const [offA, offB] of COMBOS) {
  rootTest(
    `offloads ${onOff(offA)}/${onOff(offB)}: TCP v4+v6 both ways, UDP of every size, UDP GSO, ICMP and fragments arrive intact with no checksum error`,
    async (t) => {
      if (!hasCommand('python3')) return t.fail('python3 is missing (the test preflight installs it)');
      const r = prng(offA ? (offB ? 1 : 2) : offB ? 3 : 4);
      const ka = tunnelKeyPair(backend, r.bytes(32));
      const kb = tunnelKeyPair(backend, r.bytes(32));
      const nodeA = startNode(nsA, true, offA, hexSessionKeys(deriveSessionKeys(backend, ka, kb.publicKey)));
      const nodeB = startNode(nsB, false, offB, hexSessionKeys(deriveSessionKeys(backend, kb, ka.publicKey)));
      t.teardown(async () => {
        for (const p of [nodeA, nodeB, echo, tcpServer]) if (p) await lab.stop(p);
        echo = tcpServer = undefined;
      });
      await nodeA.waitLine((l) => l.includes('"ready"'), 15_000, 'node a ready');
      await nodeB.waitLine((l) => l.includes('"ready"'), 15_000, 'node b ready');
      const [sa0, sb0] = [await stats(nodeA), await stats(nodeB)];
      t.is(sa0.offload.vnetHdr, offA, 'a: the device has the virtio header iff offloads are on');
      t.is(sb0.offload.vnetHdr, offB);
      const errA = checksumErrors(nsA);
      const errB = checksumErrors(nsB);

      // TCP, both directions at once on IPv4 and IPv6
      tcpServer = lab.spawn(nsB, ['node', TRAFFIC, 'tcp-server', '7001', String(BYTES)]);
      await tcpServer.waitLine((l) => l === 'listening');
      const clients = ['10.78.0.2', 'fd78::2'].map((h) =>
        lab.spawn(nsA, ['node', TRAFFIC, 'tcp-client', h, '7001', String(BYTES)]),
      );
      for (const c of clients) {
        await c.exited;
        const res = JSON.parse(c.lines.at(-1) ?? '{}') as { received?: number; sha256?: string };
        t.is(res.received, BYTES, 'client received every byte');
        t.is(res.sha256, expectedSha(2, BYTES), 'client received the right bytes');
      }
      await waitFor('server results', () => tcpServer?.lines.filter((l) => l.startsWith('{')).length === 2, 10_000);
      for (const l of tcpServer.lines.filter((x) => x.startsWith('{'))) {
        const res = JSON.parse(l) as { received?: number; sha256?: string };
        t.is(res.received, BYTES, 'server received every byte');
        t.is(res.sha256, expectedSha(1, BYTES), 'server received the right bytes');
      }

      // UDP of every size (fragments above the MTU), echoed
      echo = lab.spawn(nsB, ['node', TRAFFIC, 'udp-echo', '7002']);
      await echo.waitLine((l) => l === 'listening');
      for (const [host, sizes] of [
        ['10.78.0.2', UDP_SIZES_V4],
        ['fd78::2', UDP_SIZES_V6],
      ] as const) {
        const out = lab.exec(nsA, ['node', TRAFFIC, 'udp-sizes', host, '7002', sizes], { timeoutMs: 120_000 });
        const res = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as {
          echoed: number;
          bad: number;
          lost: number[];
        };
        t.is(res.bad, 0, `${host}: no datagram came back different`);
        t.deepEqual(res.lost, [], `${host}: every size came back`);
      }

      // UDP GSO (the kernel's USO super-packets where the TUN takes them)
      for (const host of ['10.78.0.2', 'fd78::2']) {
        const out = lab.exec(nsA, ['python3', '-c', USO_SENDER, host, '7002', '1000', '16'], { timeoutMs: 60_000 });
        const res = JSON.parse(out.trim()) as { ok: number; bad: number; want: number };
        t.is(res.bad, 0, `${host}: UDP GSO datagrams intact`);
        t.is(res.ok, res.want, `${host}: every UDP GSO datagram echoed`);
      }

      // ICMP, small to fragmented
      for (const host of ['10.78.0.2', 'fd78::2']) {
        for (const size of [56, 1372, 1500, 8000, 65000]) {
          const p = lab.run(nsA, ['ping', '-c', '2', '-i', '0.05', '-W', '2', '-s', String(size), host]);
          t.is(p.status, 0, `ping -s ${size} ${host}: ${p.stdout.split('\n').at(-3) ?? ''}`);
        }
      }

      t.deepEqual(checksumErrors(nsA), errA, 'a: no checksum or header error');
      t.deepEqual(checksumErrors(nsB), errB, 'b: no checksum or header error');
      const [sa, sb] = [await stats(nodeA), await stats(nodeB)];
      for (const [name, s, on] of [
        ['a', sa, offA],
        ['b', sb, offB],
      ] as const) {
        t.is(s.tunReads.offloadBad, 0, `${name}: no read dropped by the segmenter`);
        t.is(s.tunWrites.badChecksum, 0, `${name}: no bad checksum met`);
        t.is(s.tunWrites.errors, 0, `${name}: no TUN write failed`);
        if (on && s.offload.tso) t.true(s.tunReads.superPackets > 0, `${name}: super-packets were split`);
        if (on) t.true(s.tunWrites.superPackets > 0, `${name}: received runs were coalesced`);
        if (!on) t.is(s.tunReads.superPackets + s.tunWrites.superPackets, 0, `${name}: offloads off means off`);
      }
      t.log(
        `a: ${sa.tunReads.superPackets} super-packets split, ${sa.tunWrites.superPackets} written (${sa.tunWrites.merged} packets); ` +
          `b: ${sb.tunReads.superPackets} split, ${sb.tunWrites.superPackets} written (${sb.tunWrites.merged} packets); ` +
          `USO ${sa.offload.uso ? 'yes' : 'no'}`,
      );
    },
  );
}

/**
 * A live node under attack by a Sybil on its link (doc/HOSTILE.md), in
 * network namespaces with real daemons:
 *
 *   [n] vn ─┐
 *   [x] vx ─┼─ br (in ns "s")     x: 300 fresh keys, 15 from each of 20 link-local addresses
 *   [r] vr ─┘                     r: a real neighbour that starts during the flood
 *
 * 0.1.0 took 256 neighbour entries, made 256 TUN devices and UDP sockets for
 * keys that never finished a handshake, refused r as "table full", and sent
 * the spoofed sources 8.4x what they sent.
 */
import { fileURLToPath } from 'node:url';
import { type DaemonHandle, neighbors, startDaemon, status, tunDevices } from './helpers/daemon.js';
import { Lab, waitFor } from './helpers/netns.js';
import { rootTest } from './helpers/root.js';

const SYBIL = fileURLToPath(new URL('./fixtures/sybil.js', import.meta.url));

/** UDP sockets of the daemon in its namespace (ss -uan: one line per socket after the header). */
function udpSockets(lab: Lab, ns: string): string[] {
  return lab
    .exec(ns, ['ss', '-H', '-uan'])
    .split('\n')
    .filter((l) => l.trim() !== '');
}

async function upWith(h: DaemonHandle, key: string): Promise<boolean> {
  return (await neighbors(h)).some((n) => n.publicKey === key && n.state === 'up');
}

rootTest(
  'a Sybil flood of 300 keys from 20 spoofed addresses: no TUN device or socket for them, at most 3x its bytes back, and a real neighbour still comes up within 15 s',
  async (t) => {
    const lab = new Lab('hs');
    t.teardown(() => lab.cleanup());
    const s = lab.addNs('s');
    lab.bridge(s, 'br');
    const ns: Record<string, string> = {};
    for (const x of ['n', 'x', 'r']) {
      ns[x] = lab.addNs(x);
      lab.veth(ns[x], `v${x}`, s, `p${x}`);
      lab.enslave(s, `p${x}`, 'br');
    }
    const sources = Array.from({ length: 20 }, (_, i) => `fe80::5:${(i + 1).toString(16)}`);
    for (const a of sources) lab.ip(ns.x as string, 'addr', 'add', `${a}/64`, 'dev', 'vx', 'nodad');
    await lab.ready();
    const n = await startDaemon(lab, ns.n as string, 'n', ['vn']);
    const sybil = lab.spawn(ns.x as string, [
      'node',
      SYBIL,
      JSON.stringify({ iface: 'vx', sources, keysPerSource: 15, rounds: 12, intervalMs: 1000 }),
    ]);
    // the flood is in: n has seen Sybil keys
    await waitFor('Sybil keys in the table', async () => (await neighbors(n)).length >= 40, 15_000);
    const r = await startDaemon(lab, ns.r as string, 'r', ['vr']);
    const rKey = (await status(r)).publicKey as string;
    const nKey = (await status(n)).publicKey as string;
    const started = Date.now();
    await waitFor('r up on both ends', async () => (await upWith(n, rKey)) && (await upWith(r, nKey)), 15_000, 50);
    const upMs = Date.now() - started;
    t.log(`real neighbour up ${upMs} ms after its API answered, during the flood`);

    // no resources for keys that never completed a handshake
    const table = await neighbors(n);
    const sybils = table.filter((x) => x.publicKey !== rKey);
    t.true(sybils.length > 0 && sybils.every((x) => x.state !== 'up'), 'no Sybil key is up');
    t.deepEqual(
      tunDevices(lab, ns.n as string),
      [table.find((x) => x.publicKey === rKey)?.tun],
      "the only TUN device is r's",
    );
    const sockets = udpSockets(lab, ns.n as string);
    t.true(sockets.length <= 2, `one control socket and one tunnel socket for vn, found:\n${sockets.join('\n')}`);
    t.true(sybils.length <= 20 * 4, `at most linksPerSourceAddress keys per address (${sybils.length} entries)`);

    const code = await sybil.exited;
    t.is(code, 0, sybil.lines.join('\n'));
    const st = JSON.parse(sybil.lines[sybil.lines.length - 1] ?? '{}') as {
      txBytes: number;
      txDatagrams: number;
      rxBytes: number;
      rxDatagrams: number;
    };
    const ratio = st.rxBytes / st.txBytes;
    t.log(
      `Sybil sent ${st.txDatagrams} hellos (${st.txBytes} B), got back ${st.rxDatagrams} datagrams (${st.rxBytes} B): ${ratio.toFixed(3)}x`,
    );
    t.true(ratio <= 3, `amplification ${ratio}`);
    t.true(await upWith(n, rKey), 'r is still up after the flood');
    t.is(n.proc.child.exitCode, null, 'n is running');
  },
);

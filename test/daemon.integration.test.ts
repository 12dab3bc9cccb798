/**
 * Real `scrooge up` daemons in network namespaces: discovery, negotiation,
 * restarts, cleanup, impaired links, babeld over the tunnels.
 *
 * Topologies (each test builds its own lab):
 *
 *   pair:   [a] va ──── vb [b]
 *   bridge: [a] va ─┐
 *           [b] vb ─┼─ br (in ns "s")
 *           [c] vc ─┘
 *   chain:  [a] ab ── ba [b] bc ── cb [c] cd ── dc [d]     (+ babeld on every node)
 */
import { fromBase64Exact } from '../crypto/index.js';
import { tunName } from '../dataplane/names.js';
import {
  type DaemonHandle,
  neighbors,
  restartDaemon,
  startDaemon,
  status,
  tunDevices,
  waitUp,
} from './helpers/daemon.js';
import { CLI as CLI_PATH } from './helpers/cli.js';
import { hasCommand, Lab, NFT, waitFor } from './helpers/netns.js';
import { rootTest } from './helpers/root.js';

function pair(lab: Lab): { a: string; b: string } {
  const a = lab.addNs('a');
  const b = lab.addNs('b');
  lab.veth(a, 'va', b, 'vb');
  return { a, b };
}

async function pingLinkLocal(lab: Lab, from: DaemonHandle, count = 3): Promise<void> {
  for (const n of await neighbors(from)) {
    const r = lab.run(from.ns, ['ping', '-c', String(count), '-i', '0.1', '-W', '2', `${n.linkLocal}%${n.tun}`]);
    if (r.status !== 0) throw new Error(`ping ${n.linkLocal}%${n.tun} from ${from.name}: ${r.stdout}${r.stderr}`);
  }
}

rootTest('two nodes on a veth: both reach up within 3 s of start and ping each other over the tunnel', async (t) => {
  const lab = new Lab('d2');
  t.teardown(() => lab.cleanup());
  const { a, b } = pair(lab);
  await lab.ready();
  const [da, db] = await Promise.all([startDaemon(lab, a, 'a', ['va']), startDaemon(lab, b, 'b', ['vb'])]);
  const [ta, tb] = await Promise.all([waitUp(da, 1, 10_000), waitUp(db, 1, 10_000)]);
  t.log(`discovery-to-up: a ${ta} ms, b ${tb} ms after start (includes Node start-up)`);
  t.true(ta < 3000 && tb < 3000, `a ${ta} ms, b ${tb} ms`);
  await pingLinkLocal(lab, da);
  await pingLinkLocal(lab, db);
  const [na] = await neighbors(da);
  const sb = await status(db);
  t.is(na?.publicKey, sb.publicKey as string);
  t.is(na?.linkLocal, sb.linkLocal as string, "a computes b's tunnel link-local from b's key");
  t.is(na?.tun, tunName('scr', fromBase64Exact(sb.publicKey as string, 32), 'va'));
  t.is(na?.state, 'up');
  t.truthy(na?.lastHandshake);
  t.true((na?.rx.packets ?? 0) > 0 && (na?.tx.packets ?? 0) > 0);
  t.deepEqual(tunDevices(lab, a), [na?.tun]);
});

rootTest('three nodes on one bridge: a full mesh of three tunnels', async (t) => {
  const lab = new Lab('d3');
  t.teardown(() => lab.cleanup());
  const ns = lab.bridged(['a', 'b', 'c']);
  const nodes: DaemonHandle[] = [];
  for (const x of ['a', 'b', 'c']) nodes.push(await startDaemon(lab, ns[x] as string, x, [`v${x}`]));
  await Promise.all(nodes.map((d) => waitUp(d, 2, 15_000)));
  for (const d of nodes) {
    t.is(tunDevices(lab, d.ns).length, 2, `${d.name} has two tunnel devices`);
    await pingLinkLocal(lab, d, 1);
  }
});

rootTest(
  'kill -9 and restart: tunnels are up again within 10 s, no duplicate devices, the neighbour keeps running',
  async (t) => {
    const lab = new Lab('dk');
    t.teardown(() => lab.cleanup());
    const { a, b } = pair(lab);
    await lab.ready();
    const da = await startDaemon(lab, a, 'a', ['va']);
    let db = await startDaemon(lab, b, 'b', ['vb']);
    await Promise.all([waitUp(da, 1), waitUp(db, 1)]);
    const before = (await neighbors(da))[0];
    await lab.stop(db.proc, 'SIGKILL');
    t.deepEqual(tunDevices(lab, b), [], "the killed node's device vanished with its fd");
    const restarted = Date.now();
    db = await restartDaemon(lab, db);
    await waitFor(
      'both up again with a new handshake',
      async () => {
        const [na] = await neighbors(da);
        const nb = await neighbors(db);
        return (
          na?.state === 'up' && na.lastHandshake !== before?.lastHandshake && nb.length === 1 && nb[0]?.state === 'up'
        );
      },
      10_000,
      50,
    );
    t.log(`up again ${Date.now() - restarted} ms after the restart`);
    t.is(da.proc.child.exitCode, null, 'the neighbour was never restarted');
    t.deepEqual(tunDevices(lab, a), [before?.tun], 'one device on the survivor, the same one');
    t.is(tunDevices(lab, b).length, 1);
    await pingLinkLocal(lab, da);
    await pingLinkLocal(lab, db);
  },
);

rootTest(
  'SIGTERM removes every device the node created and exits 0; a second instance on a state dir is refused',
  async (t) => {
    const lab = new Lab('dt');
    t.teardown(() => lab.cleanup());
    const { a, b } = pair(lab);
    const da = await startDaemon(lab, a, 'a', ['va']);
    const db = await startDaemon(lab, b, 'b', ['vb']);
    await Promise.all([waitUp(da, 1), waitUp(db, 1)]);
    const second = lab.run(a, ['node', ...da.proc.child.spawnargs.slice(5)], 15_000);
    t.not(second.status, 0);
    t.regex(second.stderr, /another scrooge \(pid \d+\) is running with state directory/);
    t.is(second.stderr.trim().split('\n').length, 1);
    t.is(tunDevices(lab, a).length, 1);
    t.is(await lab.stop(da.proc, 'SIGTERM'), 0);
    t.deepEqual(tunDevices(lab, a), []);
    t.is(await lab.stop(db.proc, 'SIGINT'), 0);
    t.deepEqual(tunDevices(lab, b), []);
  },
);

rootTest('1% loss and reordering on the link: discovery and negotiation still complete', async (t) => {
  const lab = new Lab('dl');
  t.teardown(() => lab.cleanup());
  const { a, b } = pair(lab);
  lab.impair(a, 'va', { lossPct: 1, delayedPct: 10 });
  lab.impair(b, 'vb', { lossPct: 1, delayedPct: 10 });
  const [da, db] = await Promise.all([startDaemon(lab, a, 'a', ['va']), startDaemon(lab, b, 'b', ['vb'])]);
  const [ta, tb] = await Promise.all([waitUp(da, 1, 30_000), waitUp(db, 1, 30_000)]);
  t.log(`impaired link: up after ${ta} / ${tb} ms`);
  const r = lab.run(a, [
    'ping',
    '-c',
    '50',
    '-i',
    '0.02',
    '-q',
    `${(await neighbors(da))[0]?.linkLocal}%${(await neighbors(da))[0]?.tun}`,
  ]);
  t.regex(r.stdout, /50 packets transmitted, (4[5-9]|50) received/);
});

rootTest('four nodes in a chain with babeld: the first node pings the last through the tunnels', async (t) => {
  if (!hasCommand('babeld')) return t.fail('babeld is not installed (.ci/run installs it)');
  const lab = new Lab('dc');
  t.teardown(() => lab.cleanup());
  const names = ['a', 'b', 'c', 'd'];
  const ns = names.map((n) => lab.addNs(n));
  for (let i = 0; i < 3; i++) {
    lab.veth(ns[i] as string, `${names[i]}${names[i + 1]}`, ns[i + 1] as string, `${names[i + 1]}${names[i]}`);
  }
  const daemons: DaemonHandle[] = [];
  for (let i = 0; i < 4; i++) {
    const n = ns[i] as string;
    lab.sysctl(n, 'net.ipv4.ip_forward', '1');
    lab.sysctl(n, 'net.ipv4.conf.all.rp_filter', '0');
    lab.sysctl(n, 'net.ipv4.conf.default.rp_filter', '0');
    const babelPort = String(33123 + i);
    lab.placeholder(n, 'bd0'); // babeld will not start without an interface; tunnels come through its socket
    lab.spawn(n, [
      'babeld',
      '-G',
      babelPort,
      '-I',
      `${lab.dir}/babel-${i}.pid`,
      '-S',
      `${lab.dir}/babel-${i}.state`,
      '-d',
      '0',
      '-C',
      'redistribute local ip 10.99.0.0/24 ge 32 allow',
      '-C',
      'redistribute local deny',
      'bd0',
    ]);
    await waitFor(`babeld ${i} listening`, () =>
      lab.run(n, ['ss', '-ltn', `sport = :${babelPort}`]).stdout.includes(babelPort),
    );
    const ifaces = [i > 0 ? `${names[i]}${names[i - 1]}` : '', i < 3 ? `${names[i]}${names[i + 1]}` : ''].filter(
      Boolean,
    );
    daemons.push(
      await startDaemon(lab, n, names[i] as string, ifaces, [
        '--address',
        `10.99.0.${i + 1}/32`,
        '--babel',
        babelPort,
        '--babel-interface',
        'type tunnel hello-interval 0.5 update-interval 2',
        '--forwarding',
        'off',
      ]),
    );
  }
  await Promise.all(daemons.map((d, i) => waitUp(d, i === 0 || i === 3 ? 1 : 2, 20_000)));
  const took = await waitFor(
    'route from a to d over the tunnels',
    () => lab.run(ns[0] as string, ['ping', '-c', '1', '-W', '1', '10.99.0.4']).status === 0,
    60_000,
    500,
  );
  t.true(took);
  const route = lab.ip(ns[0] as string, 'route', 'get', '10.99.0.4');
  t.regex(route, /dev scr[0-9a-f]{12}/, `route goes over a tunnel device: ${route}`);
  const sb = await status(daemons[1] as DaemonHandle);
  t.true((sb.babel as { connected: boolean; interfaces: string[] }).connected);
  t.is((sb.babel as { interfaces: string[] }).interfaces.length, 2);
  const r = lab.run(ns[0] as string, ['ping', '-c', '3', '-i', '0.2', '10.99.0.4']);
  t.is(r.status, 0, r.stdout);
});

rootTest('interfaces that appear later, go down and come back are picked up without a restart', async (t) => {
  const lab = new Lab('di');
  t.teardown(() => lab.cleanup());
  const a = lab.addNs('a');
  const b = lab.addNs('b');
  const da = await startDaemon(lab, a, 'a', ['va']);
  const db = await startDaemon(lab, b, 'b', ['vb']);
  t.like((await status(da)).interfaces, [{ name: 'va', present: false, up: false }]);
  lab.veth(a, 'va', b, 'vb'); // the link appears after both daemons started
  await Promise.all([waitUp(da, 1, 10_000), waitUp(db, 1, 10_000)]);
  lab.ip(a, 'link', 'set', 'dev', 'va', 'down');
  await waitFor(
    'a drops the link and its device',
    async () => (await neighbors(da)).length === 0 && tunDevices(lab, a).length === 0,
  );
  t.like((await status(da)).interfaces, [{ name: 'va', present: true, up: false }]);
  lab.ip(a, 'link', 'set', 'dev', 'va', 'up');
  await Promise.all([waitUp(da, 1, 15_000), waitUp(db, 1, 15_000)]);
  t.is(tunDevices(lab, a).length, 1);
  t.is(tunDevices(lab, b).length, 1, 'b kept one device throughout');
  await pingLinkLocal(lab, da);
  // the kernel told the daemon (rtnetlink); an idle node re-reads nothing
  const reads = (await status(da)).interfaceReads as { polling: boolean; meshReads: number };
  t.false(reads.polling, 'rtnetlink notifications, not polling');
  await new Promise((r) => setTimeout(r, 1500));
  const later = (await status(da)).interfaceReads as { meshReads: number };
  t.is(later.meshReads, reads.meshReads, 'no re-read of the interfaces while nothing changed');
});

rootTest('with multicast blocked, --peer unicast hellos still find the neighbour', async (t) => {
  const lab = new Lab('dp');
  t.teardown(() => lab.cleanup());
  const { a, b } = pair(lab);
  await lab.ready();
  const block =
    'table inet block {\n chain in {\n  type filter hook prerouting priority -200;\n  ip6 daddr ff02::1 udp dport 8481 counter drop\n }\n}\n';
  for (const ns of [a, b]) lab.nft(ns, block);
  const llOf = (ns: string, dev: string) =>
    /inet6 (fe80::[0-9a-f:]+)\//.exec(lab.ip(ns, '-6', 'addr', 'show', 'dev', dev, 'scope', 'link'))?.[1] ?? '';
  const da = await startDaemon(lab, a, 'a', ['va'], ['--peer', `${llOf(b, 'vb')}%va`]);
  const db = await startDaemon(lab, b, 'b', ['vb']);
  await Promise.all([waitUp(da, 1, 15_000), waitUp(db, 1, 15_000)]);
  const dropped = /counter packets (\d+)/.exec(lab.exec(b, [NFT, 'list', 'table', 'inet', 'block']))?.[1];
  t.true(Number(dropped) > 0, 'multicast hellos were really dropped');
  await pingLinkLocal(lab, da);
});

rootTest('metrics and the human CLI output', async (t) => {
  const lab = new Lab('dm');
  t.teardown(() => lab.cleanup());
  const { a, b } = pair(lab);
  await lab.ready();
  const da = await startDaemon(lab, a, 'a', ['va'], ['--metrics', '127.0.0.1:9481']);
  const db = await startDaemon(lab, b, 'b', ['vb']);
  await Promise.all([waitUp(da, 1), waitUp(db, 1)]);
  await pingLinkLocal(lab, da);
  const metrics = lab.exec(a, [
    'node',
    '-e',
    "require('http').get('http://127.0.0.1:9481/metrics',r=>{let d='';r.on('data',c=>d+=c);r.on('end',()=>process.stdout.write(d))})",
  ]);
  t.regex(metrics, /^scrooge_neighbors\{state="up"\} 1$/m);
  t.regex(
    metrics,
    /^scrooge_tunnel_tx_packets_total\{neighbor="[^"]+",interface="va",tun="scr[0-9a-f]{12}"\} [1-9]\d*$/m,
  );
  t.regex(metrics, /^scrooge_handshakes_total 1$/m);
  const cli = (args: string[]) => lab.exec(a, ['node', CLI_PATH, ...args, '--state-dir', da.stateDir]);
  const table = cli(['neighbors']);
  t.regex(table, /^NEIGHBOUR\s+IFACE\s+STATE\s+TUN\s+ENDPOINT/m);
  t.regex(table, /\s+va\s+up\s+scr[0-9a-f]{12}\s+\[fe80::[0-9a-f:]+%va\]:\d+\s+\d+s ago/);
  t.regex(cli(['status']), /neighbours\s+1 up of 1/);
  const json = JSON.parse(cli(['neighbors', '--json'])) as unknown[];
  t.is(json.length, 1);
  const gone = lab.run(a, ['node', CLI_PATH, 'status', '--api', '/nonexistent.sock']);
  t.is(gone.status, 1);
  t.is(
    gone.stderr,
    'scrooge: no scrooge daemon is running at /nonexistent.sock (start one with scrooge up, or pick one with --api/--state-dir)\n',
  );
});

rootTest(
  'a netlink message another process sends to the daemon is dropped and counted, not taken for the kernel',
  async (t) => {
    const lab = new Lab('dn');
    t.teardown(() => lab.cleanup());
    const { a } = pair(lab);
    await lab.ready();
    const da = await startDaemon(lab, a, 'a', ['va']);
    const reads = async () =>
      (await status(da)).interfaceReads as { meshReads: number; foreignNotifications: number; polling: boolean };
    const before = await reads();
    t.false(before.polling);
    // RTM_NEWLINK naming the mesh interface, unicast to the daemon's subscribed socket (groups 0x111)
    const forge = [
      'import socket, struct',
      "socks = [l.split() for l in open('/proc/net/netlink').read().splitlines()[1:]]",
      "ports = [int(f[2]) for f in socks if f[1] == '0' and int(f[3], 16) & 0x111 == 0x111]",
      "name = b'va\\0'",
      'attr = struct.pack("=HH", 4 + len(name), 3) + name + b"\\0" * ((4 - len(name) % 4) % 4)',
      'body = struct.pack("=BxHiII", 0, 0, 99, 0, 0) + attr',
      'msg = struct.pack("=IHHII", 16 + len(body), 16, 0, 1, 0) + body',
      's = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)',
      'for p in ports: s.sendto(msg, (p, 0))',
      'print(len(ports))',
    ].join('\n');
    t.is(lab.exec(a, ['python3', '-c', forge]).trim(), '1', 'found the daemon socket');
    await waitFor('the forged message counted', async () => (await reads()).foreignNotifications === 1);
    t.is((await reads()).meshReads, before.meshReads, 'no re-read for it');
  },
);

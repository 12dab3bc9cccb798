/**
 * The forwarding filter with real nftables and real daemons.
 *
 *   [a] ab ──── ba [b] bc ──── cb [c]        a, b, c run scrooge; b routes between its links
 *   10.1.0.1     10.1.0.2  10.2.0.2    10.2.0.3
 *   fd01::1      fd01::2   fd02::2     fd02::3
 *                   bx 10.3.0.2                  (bx: not a mesh interface)
 *                   │
 *                   xb 10.3.0.4 [x]
 *
 *   node addresses on every tunnel device: a 10.99.0.1 fd99::1, b 10.99.0.2, c 10.99.0.3 fd99::3
 */
import test from 'ava';
import { type DaemonHandle, neighbors, restartDaemon, startDaemon, status, waitUp } from './helpers/daemon.js';
import { isRoot, Lab, NFT, type Proc, waitFor } from './helpers/netns.js';
import { rootTest } from './helpers/root.js';

const root = isRoot();
const lab = new Lab('fw');
let a = '';
let b = '';
let c = '';
let x = '';
let da: DaemonHandle;
let db: DaemonHandle;
let dc: DaemonHandle;
let listener: Proc;
/** `nft list table inet mine` before any daemon started. */
let mineBefore = '';

// An unrelated table of the operator's: must stay byte-for-byte identical.
const MINE = `table inet mine {\n\tset admins {\n\t\ttype ipv4_addr\n\t\telements = { 192.0.2.7 }\n\t}\n\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\ttcp dport 2222 ip saddr != @admins drop\n\t}\n\n\tchain forward {\n\t\ttype filter hook forward priority 10; policy accept;\n\t\tudp dport 7777 drop\n\t}\n}\n`;

const mineNow = () => lab.exec(b, [NFT, 'list', 'table', 'inet', 'mine']);
const scroogeTables = (ns: string) =>
  lab
    .exec(ns, [NFT, 'list', 'tables'])
    .split('\n')
    .filter((l) => l.includes('scrooge'));

async function dropped(): Promise<{ mesh: { packets: number }; notTunnel: { packets: number } }> {
  const s = await status(db);
  return (s.forwarding as { dropped: { mesh: { packets: number }; notTunnel: { packets: number } } }).dropped;
}

async function tunTo(from: DaemonHandle, to: DaemonHandle): Promise<string> {
  const pk = (await status(to)).publicKey as string;
  const n = (await neighbors(from)).find((x) => x.publicKey === pk);
  if (!n?.tun) throw new Error(`${from.name} has no tunnel to ${to.name}`);
  return n.tun;
}

function udp(ns: string, host: string, text: string): void {
  lab.exec(ns, [
    'node',
    '-e',
    `const d=require('dgram').createSocket('${host.includes(':') ? 'udp6' : 'udp4'}');d.send(${JSON.stringify(text)},9999,'${host}',()=>d.close())`,
  ]);
}

async function startB(extra: string[]): Promise<DaemonHandle> {
  const d = await startDaemon(
    lab,
    b,
    'b',
    ['ba', 'bc'],
    ['--address', '10.99.0.2/32', '--enable-forwarding', ...extra],
  );
  await waitUp(d, 2, 15_000);
  return d;
}

test.serial.before(async () => {
  if (!root) return;
  a = lab.addNs('a');
  b = lab.addNs('b');
  c = lab.addNs('c');
  x = lab.addNs('x');
  lab.veth(a, 'ab', b, 'ba', { addrA: ['10.1.0.1/24', 'fd01::1/64'], addrB: ['10.1.0.2/24', 'fd01::2/64'] });
  lab.veth(b, 'bc', c, 'cb', { addrA: ['10.2.0.2/24', 'fd02::2/64'], addrB: ['10.2.0.3/24', 'fd02::3/64'] });
  lab.veth(b, 'bx', x, 'xb', { addrA: ['10.3.0.2/24'], addrB: ['10.3.0.4/24'] });
  lab.ip(a, 'route', 'add', '10.2.0.0/24', 'via', '10.1.0.2');
  lab.ip(a, '-6', 'route', 'add', 'fd02::/64', 'via', 'fd01::2');
  lab.ip(c, 'route', 'add', '10.1.0.0/24', 'via', '10.2.0.2');
  lab.ip(c, 'route', 'add', '10.3.0.0/24', 'via', '10.2.0.2');
  lab.ip(c, '-6', 'route', 'add', 'fd01::/64', 'via', 'fd02::2');
  lab.ip(x, 'route', 'add', 'default', 'via', '10.3.0.2');
  lab.nft(b, MINE);
  mineBefore = mineNow();
  await lab.ready();
  listener = lab.spawn(c, [
    'node',
    '-e',
    "const d=require('dgram').createSocket({type:'udp6',ipv6Only:false});d.bind(9999,()=>console.log('listening'));d.on('message',m=>console.log('got '+m))",
  ]);
  await listener.waitLine((l) => l === 'listening');
  da = await startDaemon(lab, a, 'a', ['ab'], ['--address', '10.99.0.1/32', '--address', 'fd99::1/128']);
  dc = await startDaemon(lab, c, 'c', ['cb'], ['--address', '10.99.0.3/32', '--address', 'fd99::3/128']);
  db = await startB([]);
  await Promise.all([waitUp(da, 1), waitUp(dc, 1)]);
  // routes over the tunnels (what babeld would install)
  const ab = await tunTo(da, db);
  const cb = await tunTo(dc, db);
  lab.ip(a, 'route', 'add', '10.99.0.3/32', 'dev', ab);
  lab.ip(a, '-6', 'route', 'add', 'fd99::3/128', 'dev', ab);
  lab.ip(c, 'route', 'add', '10.99.0.1/32', 'dev', cb);
  lab.ip(c, '-6', 'route', 'add', 'fd99::1/128', 'dev', cb);
  await routeB();
});

/** b's routes over its tunnel devices (a restart of b re-creates the devices, and the kernel drops their routes). */
async function routeB(): Promise<void> {
  const ba = await tunTo(db, da);
  const bc = await tunTo(db, dc);
  lab.ip(b, 'route', 'replace', '10.99.0.3/32', 'dev', bc);
  lab.ip(b, 'route', 'replace', '10.99.0.1/32', 'dev', ba);
  lab.ip(b, '-6', 'route', 'replace', 'fd99::3/128', 'dev', bc);
  lab.ip(b, '-6', 'route', 'replace', 'fd99::1/128', 'dev', ba);
}

test.serial.after.always(async () => {
  await lab.cleanup();
});

rootTest('--enable-forwarding turned on IPv4 and IPv6 forwarding on b', async (t) => {
  t.deepEqual((await status(db)).forwarding, {
    mode: 'mesh',
    installed: true,
    table: 'inet scrooge',
    dropped: { mesh: { packets: 0, bytes: 0 }, notTunnel: { packets: 0, bytes: 0 } },
    ipForwarding: { ipv4: true, ipv6: true },
  });
});

rootTest('a neighbour sending raw through b gets nothing forwarded (IPv4 and IPv6); b counts the drops', async (t) => {
  const before = (await dropped()).mesh.packets;
  const got = listener.lines.length;
  t.not(lab.run(a, ['ping', '-c', '3', '-i', '0.1', '-W', '1', '10.2.0.3']).status, 0);
  t.not(lab.run(a, ['ping', '-c', '3', '-i', '0.1', '-W', '1', 'fd02::3']).status, 0);
  udp(a, '10.2.0.3', 'raw-v4');
  udp(a, 'fd02::3', 'raw-v6');
  await waitFor('drops counted', async () => (await dropped()).mesh.packets >= before + 8);
  t.is(listener.lines.length, got, 'nothing raw reached c');
  // b itself is reachable raw (not forwarding): the filter only touches forwarded traffic
  t.is(lab.run(a, ['ping', '-c', '1', '-W', '1', '10.1.0.2']).status, 0);
});

rootTest('the same traffic through the tunnels is forwarded (IPv4 and IPv6)', async (t) => {
  for (const target of ['10.99.0.3', 'fd99::3']) {
    const r = lab.run(a, ['ping', '-c', '3', '-i', '0.1', '-W', '2', target]);
    t.is(r.status, 0, `${target}: ${r.stdout}`);
  }
  udp(a, '10.99.0.3', 'tunnel-v4');
  await listener.waitLine((l) => l === 'got tunnel-v4');
  t.pass();
});

rootTest('mesh mode forwards traffic from a non-mesh, non-tunnel interface; strict mode drops it', async (t) => {
  udp(x, '10.2.0.3', 'from-x-mesh');
  await listener.waitLine((l) => l === 'got from-x-mesh');
  await lab.stop(db.proc);
  db = await restartDaemon(lab, { ...db, args: [...db.args, '--forwarding', 'strict'] });
  await waitUp(db, 2, 15_000);
  await routeB();
  t.is(((await status(db)).forwarding as { mode: string }).mode, 'strict');
  const got = listener.lines.length;
  udp(x, '10.2.0.3', 'from-x-strict');
  await waitFor('strict drop counted', async () => (await dropped()).notTunnel.packets >= 1);
  t.is(listener.lines.length, got, 'nothing from x reached c');
  // tunnel traffic still passes in strict mode
  t.is(lab.run(a, ['ping', '-c', '2', '-i', '0.1', '-W', '2', '10.99.0.3']).status, 0);
  t.regex(
    lab.exec(b, [NFT, 'list', 'set', 'inet', 'scrooge', 'tunnel_ifaces']),
    /elements = \{ "scr[0-9a-f]{12}",\s+"scr[0-9a-f]{12}" \}/,
  );
});

rootTest("the operator's own table is byte-for-byte unchanged through start, interface changes and stop", async (t) => {
  t.is(mineNow(), mineBefore, 'after start');
  lab.ip(b, 'link', 'set', 'dev', 'bc', 'down');
  await waitFor(
    'b loses the link to c',
    async () => (await neighbors(db)).filter((n) => n.state === 'up').length === 1,
  );
  lab.ip(b, 'link', 'set', 'dev', 'bc', 'up');
  await waitUp(db, 2, 15_000);
  t.is(mineNow(), mineBefore, 'after interface changes');
  t.is(await lab.stop(db.proc), 0);
  t.deepEqual(scroogeTables(b), [], 'clean stop removed the scrooge table');
  t.is(mineNow(), mineBefore, 'after stop');
  t.is(
    lab.exec(b, ['cat', '/proc/sys/net/ipv4/ip_forward']).trim(),
    '0',
    '--enable-forwarding restored the sysctl it changed',
  );
  t.is(lab.exec(b, ['cat', '/proc/sys/net/ipv6/conf/all/forwarding']).trim(), '0');
  db = await restartDaemon(lab, db);
});

rootTest(
  'kill -9 then restart: exactly one inet scrooge table with the right rules; clean stop leaves none',
  async (t) => {
    await lab.stop(db.proc, 'SIGKILL');
    t.deepEqual(scroogeTables(b), ['table inet scrooge'], 'the table outlives a crash');
    db = await restartDaemon(lab, db);
    await waitUp(db, 2, 15_000);
    t.deepEqual(scroogeTables(b), ['table inet scrooge']);
    const table = lab.exec(b, [NFT, 'list', 'table', 'inet', 'scrooge']);
    t.regex(table, /elements = \{ "ba",\s+"bc" \}/);
    t.regex(table, /iifname @mesh_ifaces counter name "mesh_dropped" drop/);
    t.regex(
      table,
      /iifname != @tunnel_ifaces counter name "strict_dropped" drop/,
      'strict, as the restarted daemon was told',
    );
    t.is(table.match(/hook forward/g)?.length, 1);
    t.is(mineNow(), mineBefore);
    t.is(await lab.stop(db.proc), 0);
    t.deepEqual(scroogeTables(b), []);
  },
);

/**
 * The demo's mesh: the namespaces and links, a daemon (and a babeld) in each
 * node, all tunnels up, and routes from babeld (or static ones without it).
 *
 *                      uplink (plain)
 *          [sink] ────────────────────── [gw] gateway: capacity, weights a:b = 3:1
 *                                         │
 *                          mesh bridge ───┼──────────┐
 *                                        [a]        [b]
 *                                         │
 *                                        [c]   reaches the gateway only through a
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DataplaneError } from '../../dataplane/errors.js';
import { apiRequest } from '../../src/api.js';
import type { NeighborInfo } from '../../src/daemon.js';
import { defaultBackend } from '../../src/index.js';
import { generateIdentityWith, writeKeyFile } from '../../src/keyfile.js';
import { formatRate } from '../../src/values.js';
import { hasCommand, type Lab, type Proc, waitFor } from '../lab.js';
import type { Screen } from './screen.js';

export const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

export interface Node {
  name: string;
  ns: string;
  stateDir: string;
  proc: Proc;
  address: string;
  pk: string;
}

export interface Mesh {
  ns: { gw: string; a: string; b: string; c: string; sink: string; bridge: string };
  gw: Node;
  a: Node;
  b: Node;
  c: Node;
  neighborsOf: (n: Node) => Promise<NeighborInfo[]>;
}

/** Builds the mesh and returns when every tunnel is up and the routes are the shortest ones. */
export async function buildMesh(lab: Lab, screen: Screen, since: () => string, capacity: number): Promise<Mesh> {
  const useBabel = hasCommand('babeld');
  screen.log(
    `scrooge demo: a gateway, three neighbours and a sink in network namespaces (${useBabel ? 'routes by babeld' : 'static routes; install babeld to route dynamically'})`,
  );

  // --- topology ---------------------------------------------------------------------------
  const ns = {
    gw: lab.addNs('gw'),
    a: lab.addNs('a'),
    b: lab.addNs('b'),
    c: lab.addNs('c'),
    sink: lab.addNs('sink'),
    bridge: lab.addNs('br'),
  };
  lab.bridge(ns.bridge, 'mesh');
  lab.veth(ns.gw, 'mesh0', ns.bridge, 'pgw', { addrA: ['10.42.5.1/24'] });
  lab.veth(ns.a, 'mesh0', ns.bridge, 'pa', { addrA: ['10.42.5.2/24'] });
  lab.veth(ns.b, 'mesh0', ns.bridge, 'pb', { addrA: ['10.42.5.3/24'] });
  for (const port of ['pgw', 'pa', 'pb']) lab.enslave(ns.bridge, port, 'mesh');
  lab.veth(ns.a, 'mesh1', ns.c, 'mesh0');
  lab.veth(ns.gw, 'uplink', ns.sink, 'uplink', { addrA: ['10.42.9.1/24'], addrB: ['10.42.9.2/24'] });
  lab.ip(ns.sink, 'route', 'add', '10.42.0.0/24', 'via', '10.42.9.1');
  await lab.ready();

  // --- daemons ------------------------------------------------------------------------------
  // identities first, so the gateway's weights can name a and b and all four daemons
  // (and their babelds) start together
  const plan: Array<{ name: keyof typeof ns; ifaces: string[]; address: string; port: number }> = [
    { name: 'gw', ifaces: ['mesh0'], address: '10.42.0.1/32', port: 33100 },
    { name: 'a', ifaces: ['mesh0', 'mesh1'], address: '10.42.0.2/32', port: 33101 },
    { name: 'b', ifaces: ['mesh0'], address: '10.42.0.3/32', port: 33102 },
    { name: 'c', ifaces: ['mesh0'], address: '10.42.0.4/32', port: 33103 },
  ];
  const keys: Record<string, string> = {};
  for (const p of plan) {
    mkdirSync(`${lab.dir}/${p.name}`, { recursive: true });
    const id = generateIdentityWith(defaultBackend());
    writeKeyFile(`${lab.dir}/${p.name}/key`, id.seed);
    keys[p.name] = id.publicKeyBase64;
  }
  const cfg = `${lab.dir}/gw.json`;
  writeFileSync(
    cfg,
    JSON.stringify(
      {
        capacity: formatRate(capacity),
        share: 1,
        neighbors: { [keys.a as string]: { weight: 3 }, [keys.b as string]: { weight: 1 } },
      },
      null,
      2,
    ),
  );
  const start = async (p: (typeof plan)[number]): Promise<Node> => {
    const { name } = p;
    const stateDir = `${lab.dir}/${name}`;
    const logFile = `${lab.dir}/${name}.log`;
    if (useBabel) {
      lab.placeholder(ns[name], 'bd0'); // babeld wants one interface at start; tunnels come through its socket
      // the node's address from the start, so babeld exports it before the first tunnel is up
      lab.ip(ns[name], 'addr', 'add', p.address, 'dev', 'bd0');
      lab.spawn(ns[name], [
        'babeld',
        '-G',
        String(p.port),
        '-M',
        '0',
        '-I',
        `${lab.dir}/${name}-babel.pid`,
        '-S',
        `${lab.dir}/${name}-babel.state`,
        ...(process.env.SCROOGE_DEMO_DEBUG === '1' ? ['-d', '1', '-L', `${lab.dir}/${name}-babel.log`] : ['-d', '0']),
        '-C',
        'redistribute local ip 10.42.0.0/24 ge 32 allow',
        '-C',
        'redistribute ip 10.42.9.0/24 eq 24 allow',
        '-C',
        'redistribute local deny',
        'bd0',
      ]);
      await waitFor(
        `babeld in ${name}`,
        () => lab.run(ns[name], ['ss', '-ltn', `sport = :${p.port}`]).stdout.includes(String(p.port)),
        10_000,
      );
    }
    const argv = [
      process.execPath,
      CLI,
      'up',
      ...p.ifaces.flatMap((i) => ['--interface', i]),
      '--state-dir',
      stateDir,
      '--address',
      p.address,
      '--enable-forwarding',
      ...(useBabel
        ? ['--babel', String(p.port), '--babel-interface', 'type tunnel hello-interval 0.5 update-interval 2']
        : []),
      ...(name === 'gw' ? ['--config', cfg] : []),
    ];
    const proc = lab.spawn(ns[name], ['sh', '-c', `exec "$@" >>${logFile} 2>&1`, 'sh', ...argv]);
    await waitFor(`${name}'s daemon`, async () => {
      if (proc.child.exitCode !== null)
        throw new DataplaneError('ERR_NATIVE', `${name}'s daemon exited; see ${logFile}`);
      await apiRequest(`${stateDir}/scrooge.sock`, 'GET', '/v1/status');
      return true;
    });
    return { name, ns: ns[name], stateDir, proc, address: p.address.split('/')[0] as string, pk: keys[name] as string };
  };
  screen.log(`${since()}  starting daemons: gw (capacity ${formatRate(capacity)}, weights a:b = 3:1), a, b, c`);
  const [gw, a, b, c] = (await Promise.all(plan.map(start))) as [Node, Node, Node, Node];
  const nodes: Record<string, Node> = { gw, a, b, c };

  const neighborsOf = async (n: Node) =>
    (await apiRequest(`${n.stateDir}/scrooge.sock`, 'GET', '/v1/neighbors')) as NeighborInfo[];
  const upCount = async (n: Node) => (await neighborsOf(n)).filter((x) => x.state === 'up').length;
  const want: Record<string, number> = { gw: 2, a: 3, b: 2, c: 1 };
  await waitFor(
    'tunnels up',
    async () => {
      const counts = await Promise.all(Object.values(nodes).map(async (n) => [n.name, await upCount(n)] as const));
      screen.show([`${since()}  tunnels up: ${counts.map(([n, k]) => `${n} ${k}/${want[n]}`).join('  ')}`]);
      return counts.every(([n, k]) => k === want[n]);
    },
    30_000,
    200,
  );
  screen.log(`${since()}  all tunnels up: gw–a, gw–b, a–b, a–c (c reaches the gateway only through a)`);

  // --- routes -------------------------------------------------------------------------------
  const tunTo = async (from: Node, to: Node) =>
    (await neighborsOf(from)).find((x) => x.publicKey === to.pk)?.tun as string;
  if (useBabel) {
    // wait for babeld to settle on the shortest paths (the first route it installs can
    // be a detour, e.g. b → a → gw, which would count b's traffic as a's at the gateway)
    const expect: Array<[Node, string, string]> = [
      [a, '10.42.9.2', await tunTo(a, gw)],
      [b, '10.42.9.2', await tunTo(b, gw)],
      [c, '10.42.9.2', await tunTo(c, a)],
      [gw, '10.42.0.2', await tunTo(gw, a)],
      [gw, '10.42.0.3', await tunTo(gw, b)],
      [gw, '10.42.0.4', await tunTo(gw, a)],
    ];
    let lastLine = '';
    const dev = (n: Node, dst: string) => /\bdev (\S+)/.exec(lab.run(n.ns, ['ip', 'route', 'get', dst]).stdout)?.[1];
    await waitFor(
      'shortest routes from babeld',
      () => {
        const missing = expect.filter(([n, dst, want]) => dev(n, dst) !== want).map(([n, dst]) => `${n.name}→${dst}`);
        const line = `${since()}  waiting for babeld's shortest routes over the tunnels; not yet: ${missing.join(' ')}`;
        if (missing.length > 0 && line !== lastLine) {
          if (screen.live) screen.show([line]);
          else if (process.env.SCROOGE_DEMO_DEBUG === '1') screen.log(line);
        }
        lastLine = line;
        return missing.length === 0;
      },
      60_000,
      250,
    );
    await waitFor(
      'the sink to answer',
      () => [a, b, c].every((n) => lab.run(n.ns, ['ping', '-c', '1', '-W', '1', '10.42.9.2']).status === 0),
      10_000,
      250,
    );
  } else {
    const route = (n: Node, dst: string, dev: string) => lab.ip(n.ns, 'route', 'replace', dst, 'dev', dev);
    route(a, '10.42.9.0/24', await tunTo(a, gw));
    route(b, '10.42.9.0/24', await tunTo(b, gw));
    route(c, '10.42.9.0/24', await tunTo(c, a));
    route(c, '10.42.0.0/24', await tunTo(c, a));
    route(a, '10.42.0.4/32', await tunTo(a, c));
    route(gw, '10.42.0.2/32', await tunTo(gw, a));
    route(gw, '10.42.0.4/32', await tunTo(gw, a));
    route(gw, '10.42.0.3/32', await tunTo(gw, b));
  }
  screen.log(`${since()}  routes in place: a, b and c reach the sink (10.42.9.2) through the gateway's tunnels`);
  return { ns, gw, a, b, c, neighborsOf };
}

/**
 * The tunnels the benchmarks compare, each brought up between two namespaces
 * over one veth (ns a: fd00::a on va, ns b: fd00::b on vb; IPv6 underlay,
 * inner MTU 1420): raw veth, scrooge (the real daemon, with and without TUN
 * offloads, with traffic control), fastd, nebula and wireguard-go. Used by
 * bench/e2e (throughput, RTT, CPU) and bench/passes (per-pass timelines).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { selectBackend } from '../crypto/index.js';
import { neighbors, startDaemon, waitUp } from './daemons.js';
import { hasCommand, type Lab, type Proc, waitFor } from './lab.js';

/** The two namespaces and the veth every peer runs over. */
export function peerPair(lab: Lab): { a: string; b: string } {
  const a = lab.addNs('a');
  const b = lab.addNs('b');
  lab.veth(a, 'va', b, 'vb', {
    addrA: ['fe80::a/64', 'fd00::a/64', '10.99.0.1/24'],
    addrB: ['fe80::b/64', 'fd00::b/64', '10.99.0.2/24'],
  });
  return { a, b };
}

export interface Setup {
  /** Address of b reachable through the tunnel (or raw). */
  target: string;
  /** Processes whose CPU is counted. */
  pids: number[];
  stop(): Promise<void>;
}

export interface Peer {
  name: string;
  available(): string | undefined; // reason if not
  up(lab: Lab, a: string, b: string, dir: string): Promise<Setup>;
}

export const peers: Peer[] = [
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

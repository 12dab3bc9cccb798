/**
 * Installing on a box without a compiler, for real:
 *
 *   npm pack (with this machine's prebuilt addon)
 *     │
 *     ▼  private mount namespace: every C/C++ compiler, make and python3 on
 *        this machine is replaced by a stub that records its use and fails;
 *        PATH holds only node and sh
 *   npm install -g --offline ./scrooge-<version>.tgz   (dependencies from npm's cache)
 *     │
 *     ▼  no stub ran; the package has no build/; doctor says the addon is prebuilt
 *   [a] va ──── vb [b]   the installed `scrooge up` on both ends: tunnel up, ping over it
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VERSION } from '../src/version.js';
import { neighbors, startDaemon, waitUp } from './helpers/daemon.js';
import { Lab } from './helpers/netns.js';
import { rootTest } from './helpers/root.js';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** Compilers, build tools and Python: what node-gyp would need. */
const TOOL =
  /^(cc|c\+\+|cpp|gcc|g\+\+|clang|clang\+\+|make|gmake|python3?(\.\d+)?|([a-z0-9_]+-)+(gcc|g\+\+|cpp)(-\d+)?|(gcc|g\+\+|cpp)-\d+)$/;

function buildTools(): string[] {
  const found: string[] = [];
  for (const dir of ['/usr/bin', '/usr/local/bin', '/bin']) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) if (TOOL.test(f)) found.push(join(dir, f));
  }
  return found;
}

function npmCli(): string {
  const npm = execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim();
  return realpathSync(npm); // …/npm/bin/npm-cli.js
}

rootTest(
  'npm install -g of the packed tarball succeeds with no compiler, make or python3, and the installed scrooge runs a tunnel',
  async (t) => {
    const lab = new Lab('in');
    t.teardown(() => lab.cleanup());
    const dir = lab.dir;

    // 1. The tarball, with this machine's prebuild (the other targets need cross compilers: npm run test:cross).
    const pb = spawnSync(process.execPath, [join(root, 'scripts/prebuild.mjs'), 'linux-x64'], { encoding: 'utf8' });
    t.is(pb.status, 0, pb.stderr);
    const tgz = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], {
      cwd: root,
      encoding: 'utf8',
    }).trim();
    t.is(tgz, `scrooge-${VERSION}.tgz`);

    // 2. A machine without build tools: stubs over every one of them, a PATH with node and sh only.
    const stub = join(dir, 'no-compiler');
    const used = join(dir, 'compiler-used.log');
    writeFileSync(stub, `#!/bin/sh\necho "$0 $*" >> ${used}\necho "no compiler on this machine" >&2\nexit 127\n`);
    chmodSync(stub, 0o755);
    const tools = buildTools();
    t.true(
      tools.some((p) => p.endsWith('/gcc') || p.endsWith('/cc')),
      `found build tools: ${tools.join(' ')}`,
    );
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    symlinkSync('/bin/sh', join(bin, 'sh'));
    const prefix = join(dir, 'prefix');
    const mounts = tools.map((p) => `mount --bind ${stub} ${p}`).join(' && ');
    const install = [
      'env',
      '-i',
      `PATH=${bin}`,
      `HOME=${process.env.HOME ?? '/root'}`,
      'node',
      npmCli(),
      'install',
      '-g',
      '--offline',
      '--no-audit',
      '--no-fund',
      '--prefix',
      prefix,
      join(dir, tgz),
    ];
    const r = spawnSync(
      'unshare',
      ['--mount', '--propagation', 'private', 'sh', '-c', `${mounts} && exec "$@"`, 'sh', ...install],
      {
        encoding: 'utf8',
        timeout: 180_000,
      },
    );
    t.is(r.status, 0, `npm install failed:\n${r.stdout}\n${r.stderr}`);
    t.false(existsSync(used), `a build tool was run: ${existsSync(used) ? readFileSync(used, 'utf8') : ''}`);
    const pkg = join(prefix, 'lib/node_modules/scrooge');
    t.false(existsSync(join(pkg, 'build')), 'nothing was built from source');
    t.true(existsSync(join(pkg, 'prebuilds/linux-x64/node.napi.glibc.node')));

    // 3. The installed command: doctor finds the prebuilt addon; two daemons bring a tunnel up.
    const scrooge = join(prefix, 'bin/scrooge');
    const doctor = spawnSync(scrooge, ['doctor', '--json', '--state-dir', join(dir, 'doctor')], { encoding: 'utf8' });
    const checks = (JSON.parse(doctor.stdout) as { checks: Array<{ id: string; status: string; detail: string }> })
      .checks;
    const addon = checks.find((c) => c.id === 'addon');
    t.is(addon?.status, 'ok');
    t.regex(addon?.detail ?? '', /^prebuilt: .*\/prebuilds\/linux-x64\/node\.napi\.glibc\.node$/);

    const a = lab.addNs('a');
    const b = lab.addNs('b');
    lab.veth(a, 'va', b, 'vb');
    await lab.ready();
    const [da, db] = await Promise.all([
      startDaemon(lab, a, 'a', ['va'], [], { command: [scrooge] }),
      startDaemon(lab, b, 'b', ['vb'], [], { command: [scrooge] }),
    ]);
    await Promise.all([waitUp(da, 1), waitUp(db, 1)]);
    const [nb] = await neighbors(da);
    const ping = lab.run(a, ['ping', '-c', '3', '-i', '0.2', '-W', '2', `${nb?.linkLocal}%${nb?.tun}`]);
    t.is(ping.status, 0, ping.stdout + ping.stderr);
  },
);

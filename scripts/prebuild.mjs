#!/usr/bin/env node
// Builds the prebuilt native addons shipped in the npm package:
//
//   prebuilds/linux-x64/node.napi.glibc.node          x86-64
//   prebuilds/linux-arm64/node.napi.armv8.glibc.node  arm64 (Raspberry Pi 3/4/5, most arm64 routers)
//   prebuilds/linux-arm/node.napi.armv7.glibc.node    armv7, hard float (Raspberry Pi 2, armhf boards)
//   prebuilds/linux-s390x/node.napi.glibc.node        s390x: big-endian, built so the BE matrix runs the real thing
//
// One binary per platform serves every Node >= 20: the addon uses Node-API
// (NAPI_VERSION 8) only. File names follow node-gyp-build's tags (napi, armvN,
// glibc), so node-gyp-build picks the right one at run time; a musl system
// matches none of them and builds from source instead.
//
// Why not node-gyp/prebuildify for the cross builds: the addon is one C file,
// and node-gyp's cross-compilation takes arm flags from the host Node's
// config.gypi. Calling each Debian cross compiler directly is short and exact.
//
// Each binary must load on glibc 2.28 (Node 20's own floor): the script reads
// the versioned symbols the binary needs and fails if any is newer.
//
// Usage: node scripts/prebuild.mjs [linux-x64 linux-arm64 linux-arm linux-s390x]   (default: all)
// Needs (Debian): gcc gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf gcc-s390x-linux-gnu binutils
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NATIVE_DIR = join(root, 'dataplane/native');
const sources = readdirSync(NATIVE_DIR)
  .filter((f) => f.endsWith('.c'))
  .sort()
  .map((f) => join(NATIVE_DIR, f));
const GLIBC_FLOOR = [2, 28];

export const TARGETS = {
  'linux-x64': { cc: ['x86_64-linux-gnu-gcc', 'gcc'], file: 'node.napi.glibc.node', pkg: 'gcc', flags: [] },
  'linux-arm64': {
    cc: ['aarch64-linux-gnu-gcc'],
    file: 'node.napi.armv8.glibc.node',
    pkg: 'gcc-aarch64-linux-gnu',
    flags: [],
  },
  'linux-arm': {
    cc: ['arm-linux-gnueabihf-gcc'],
    file: 'node.napi.armv7.glibc.node',
    pkg: 'gcc-arm-linux-gnueabihf',
    // Debian armhf's baseline, stated so a different toolchain default cannot change it
    flags: ['-march=armv7-a', '-mfpu=vfpv3-d16', '-mfloat-abi=hard'],
  },
  'linux-s390x': { cc: ['s390x-linux-gnu-gcc'], file: 'node.napi.glibc.node', pkg: 'gcc-s390x-linux-gnu', flags: [] },
};

function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return undefined;
}

/** Node's headers: the running Node's own, else node-gyp's cache. */
function nodeHeaders() {
  const prefix = resolve(dirname(process.execPath), '..');
  const candidates = [
    join(prefix, 'include/node'),
    join(process.env.HOME ?? '/root', '.cache/node-gyp', process.versions.node, 'include/node'),
  ];
  const found = candidates.find((d) => existsSync(join(d, 'node_api.h')) && existsSync(join(d, 'uv.h')));
  if (!found) throw new Error(`Node headers not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** The newest GLIBC_x.y symbol version a binary needs, as [x, y]. */
function glibcNeeded(file) {
  const r = spawnSync('readelf', ['--dyn-syms', '-W', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`readelf failed on ${file} (Debian: apt-get install binutils)`);
  let max = [0, 0];
  for (const m of r.stdout.matchAll(/GLIBC_(\d+)\.(\d+)/g)) {
    const v = [Number(m[1]), Number(m[2])];
    if (v[0] > max[0] || (v[0] === max[0] && v[1] > max[1])) max = v;
  }
  return max;
}

export function buildTarget(name, outDir = join(root, 'prebuilds')) {
  const t = TARGETS[name];
  if (!t) throw new Error(`unknown target ${name} (one of ${Object.keys(TARGETS).join(', ')})`);
  const cc = t.cc.map(which).find(Boolean);
  if (!cc) throw new Error(`${name}: no ${t.cc[0]} on the PATH (Debian: apt-get install ${t.pkg})`);
  const dir = join(outDir, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const out = join(dir, t.file);
  const args = [
    '-std=gnu11',
    '-O2',
    '-Wall',
    '-Wextra',
    '-Werror',
    '-Wno-unused-parameter',
    '-fvisibility=hidden',
    '-fPIC',
    '-shared',
    '-s',
    '-DNAPI_VERSION=8',
    '-DBUILDING_NODE_EXTENSION',
    '-DNODE_GYP_MODULE_NAME=scrooge_native',
    ...t.flags,
    '-I',
    nodeHeaders(),
    '-o',
    out,
    ...sources,
  ];
  const r = spawnSync(cc, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${name}: ${cc} failed (exit ${r.status})`);
  const need = glibcNeeded(out);
  if (need[0] > GLIBC_FLOOR[0] || (need[0] === GLIBC_FLOOR[0] && need[1] > GLIBC_FLOOR[1])) {
    throw new Error(`${name}: needs GLIBC_${need.join('.')}, newer than the floor ${GLIBC_FLOOR.join('.')}`);
  }
  return { out, cc, glibc: need.join('.') };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(TARGETS);
  let failed = 0;
  for (const name of names) {
    try {
      const r = buildTarget(name);
      console.log(`prebuild ${name}: ${r.out.slice(root.length + 1)} (${r.cc}, needs glibc ${r.glibc})`);
    } catch (e) {
      console.error(`prebuild ${name}: ${e.message}`);
      failed++;
    }
  }
  process.exit(failed === 0 ? 0 : 1);
}

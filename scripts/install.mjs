#!/usr/bin/env node
// The package's install script (run by `npm install` / `npm ci`).
//
// 1. A prebuilt addon for this platform (prebuilds/, chosen by node-gyp-build)
//    that loads here: done, no compiler needed. This is what an installed
//    package on x64, arm64 or armv7 with glibc does.
// 2. Otherwise (no prebuild matches, e.g. musl, mips; or it does not load; or
//    SCROOGE_BUILD_FROM_SOURCE=1; or a git checkout, which has no prebuilds):
//    build from source with node-gyp (scripts/build-native.mjs), which needs
//    python3, make and a C compiler.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function prebuilt() {
  if (process.env.SCROOGE_BUILD_FROM_SOURCE) return { reason: 'SCROOGE_BUILD_FROM_SOURCE is set' };
  if (!existsSync(join(root, 'prebuilds')))
    return {
      reason: 'the package has no prebuilds/ directory (a source checkout, or a platform we ship no binary for)',
    };
  process.env.PREBUILDS_ONLY = '1'; // node-gyp-build: look at prebuilds/ only, not at a stale build/
  let path;
  try {
    path = require('node-gyp-build').resolve(root);
  } catch (e) {
    return { reason: e.message.split('\n')[0] };
  }
  try {
    require(path);
  } catch (e) {
    return { reason: `${path} does not load here: ${e.message.split('\n')[0]}` };
  }
  return { path };
}

if (process.platform !== 'linux') {
  console.error('scrooge: the native addon is Linux-only (TUN devices); skipping it');
  process.exit(0);
}
const p = prebuilt();
if (p.path) {
  console.log(`scrooge: using the prebuilt native addon ${p.path.slice(root.length + 1)}`);
  process.exit(0);
}
console.log(`scrooge: building the native addon from source (${p.reason})`);
const r = spawnSync(process.execPath, [join(root, 'scripts/build-native.mjs')], { stdio: 'inherit' });
process.exit(r.status ?? 1);

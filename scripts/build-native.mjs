#!/usr/bin/env node
// Builds the native addon (dataplane/native) with node-gyp. Run by `npm ci` /
// `npm install` (the package's install script) and by `npm run build:native`.
//
// Headers: node-gyp normally downloads Node's headers, which fails offline.
// When the running Node ships its headers (<prefix>/include/node, as Debian's
// and the official tarballs do) we point node-gyp at them with --nodedir;
// otherwise node-gyp's own cache/download logic applies.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

if (process.platform !== 'linux') {
  console.error('scrooge: the native addon is Linux-only (TUN devices); skipping build');
  process.exit(0);
}

function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  const prefix = resolve(dirname(process.execPath), '..');
  candidates.push(join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'));
  if (process.env.npm_execpath) {
    candidates.push(resolve(dirname(process.env.npm_execpath), '../node_modules/node-gyp/bin/node-gyp.js'));
  }
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed locally
  }
  return candidates.find((c) => existsSync(c));
}

const gyp = findNodeGyp();
if (!gyp) {
  console.error('scrooge: cannot find node-gyp (it ships with npm); install npm or node-gyp and retry');
  process.exit(1);
}

const args = [gyp, 'rebuild', '--release'];
const prefix = resolve(dirname(process.execPath), '..');
if (existsSync(join(prefix, 'include/node/node_api.h')) && existsSync(join(prefix, 'include/node/common.gypi'))) {
  args.push(`--nodedir=${prefix}`);
}
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  console.error(
    '\nscrooge: building the native addon failed. It needs python3, make and a C compiler\n' +
      '(Debian: apt-get install python3 make g++) and Node headers (shipped with Node, or downloaded by node-gyp).',
  );
  process.exit(r.status ?? 1);
}

#!/usr/bin/env node
// Run by `npm test` before anything else. As root the integration tests run
// real tools in network namespaces; when one is missing they would fail one by
// one with "exec of … failed". Instead: one message naming every missing tool
// and the Debian packages that bring them. Not root: the integration tests are
// skipped (visibly), so nothing here is needed.
import { accessSync, constants, existsSync } from 'node:fs';
import { join } from 'node:path';

const DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin', '/usr/local/sbin', '/usr/local/bin'];
/** tool → Debian package */
const TOOLS = {
  ip: 'iproute2',
  tc: 'iproute2',
  ss: 'iproute2',
  nft: 'nftables',
  ping: 'iputils-ping',
  iperf3: 'iperf3',
  tcpdump: 'tcpdump',
  babeld: 'babeld',
  unshare: 'util-linux',
  cc: 'gcc',
  python3: 'python3',
  sh: 'dash',
};

function found(name) {
  return DIRS.some((d) => {
    try {
      accessSync(join(d, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

if (typeof process.getuid === 'function' && process.getuid() !== 0) process.exit(0);
const missing = Object.entries(TOOLS).filter(([tool]) => !found(tool));
const problems = [];
if (missing.length > 0) {
  const pkgs = [...new Set(missing.map(([, p]) => p))];
  problems.push(`missing ${missing.map(([t]) => t).join(', ')}: apt-get install ${pkgs.join(' ')}`);
}
if (!existsSync('/dev/net/tun')) problems.push('no /dev/net/tun: modprobe tun (or pass the device to the container)');
if (problems.length > 0) {
  console.error(
    `npm test: the integration tests (run as root) need tools this machine lacks:\n  ${problems.join('\n  ')}\n` +
      '(bash .ci/run installs everything; run npm test as a normal user for the unit tests alone)',
  );
  process.exit(1);
}

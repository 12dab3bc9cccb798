/**
 * dataplane/native/cmsg.h on this machine (test/native/cmsg_test.c, built
 * with the host C compiler). The cross matrix runs the same program on arm64,
 * armv7 and big-endian s390x.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { findSystemBinary } from '../src/system.js';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const cc = findSystemBinary('cc') ?? findSystemBinary('gcc');
const title = 'the UDP ancillary-data parser reads the kernel widths (UDP_GRO int, UDP_SEGMENT u16, pktinfo)';

if (!cc) test.skip(`${title} (no C compiler on this machine)`, () => {});
else
  test(title, (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'scrooge-cmsg-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const bin = join(dir, 'cmsg_test');
    const build = spawnSync(cc, ['-std=gnu11', '-Wall', '-Wextra', '-Werror', '-o', bin, 'test/native/cmsg_test.c'], {
      cwd: root,
      encoding: 'utf8',
    });
    t.is(build.status, 0, build.stderr);
    const run = spawnSync(bin, { encoding: 'utf8' });
    t.is(run.status, 0, run.stdout);
    t.notRegex(run.stdout, /^not ok/m);
    t.regex(run.stdout, /^1\.\.9$/m);
  });

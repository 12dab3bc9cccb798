/**
 * The C test programs in test/native/, built with the host C compiler (with
 * AddressSanitizer and UBSan where the compiler has them, so a read past a
 * buffer fails the run) and run here; the cross matrix runs the same programs
 * on arm64, armv7 and big-endian s390x.
 *
 *   cmsg_test.c     dataplane/native/cmsg.h: the UDP ancillary-data widths
 *   offload_test.c  dataplane/native/offload.c: checksum byte order, the virtio
 *                   header, a fuzz of the segmenter and the coalescer
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

const PROGRAMS = [
  {
    title: 'the UDP ancillary-data parser reads the kernel widths (UDP_GRO int, UDP_SEGMENT u16, pktinfo)',
    sources: ['test/native/cmsg_test.c'],
    checks: 9,
  },
  {
    title: 'the offload segmenter and coalescer: checksum byte order, and a fuzz under AddressSanitizer',
    sources: ['test/native/offload_test.c', 'dataplane/native/offload.c'],
    checks: 7,
  },
];

for (const p of PROGRAMS) {
  if (!cc) test.skip(`${p.title} (no C compiler on this machine)`, () => {});
  else
    test(p.title, (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'scrooge-native-'));
      t.teardown(() => rmSync(dir, { recursive: true, force: true }));
      const bin = join(dir, 'test');
      const flags = ['-std=gnu11', '-O1', '-g', '-Wall', '-Wextra', '-Werror'];
      const sanitize = ['-fsanitize=address,undefined', '-fno-sanitize-recover=all'];
      let build = spawnSync(cc, [...flags, ...sanitize, '-o', bin, ...p.sources], { cwd: root, encoding: 'utf8' });
      if (build.status !== 0) {
        t.log(`built without sanitizers (${build.stderr.split('\n')[0] ?? ''})`);
        build = spawnSync(cc, [...flags, '-o', bin, ...p.sources], { cwd: root, encoding: 'utf8' });
      }
      t.is(build.status, 0, build.stderr);
      const run = spawnSync(bin, { encoding: 'utf8' });
      t.is(run.status, 0, run.stdout + run.stderr);
      t.notRegex(run.stdout, /^not ok/m);
      t.regex(run.stdout, new RegExp(`^1\\.\\.${p.checks}$`, 'm'));
    });
}

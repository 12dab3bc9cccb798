/**
 * dataplane/native/offload.c on its own (test/native/offload_test.c, built
 * with the host C compiler, with AddressSanitizer and UBSan where the compiler
 * has them, so a read past a packet fails the run). The cross matrix runs the
 * same program on arm64, armv7 and big-endian s390x.
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
const title = 'the offload segmenter and coalescer: checksum byte order, and a fuzz under AddressSanitizer';
const SOURCES = ['test/native/offload_test.c', 'dataplane/native/offload.c'];

if (!cc) test.skip(`${title} (no C compiler on this machine)`, () => {});
else
  test(title, (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'scrooge-offload-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const bin = join(dir, 'offload_test');
    const flags = ['-std=gnu11', '-O1', '-g', '-Wall', '-Wextra', '-Werror'];
    const sanitize = ['-fsanitize=address,undefined', '-fno-sanitize-recover=all'];
    let build = spawnSync(cc, [...flags, ...sanitize, '-o', bin, ...SOURCES], { cwd: root, encoding: 'utf8' });
    if (build.status !== 0) {
      t.log(`built without sanitizers (${build.stderr.split('\n')[0] ?? ''})`);
      build = spawnSync(cc, [...flags, '-o', bin, ...SOURCES], { cwd: root, encoding: 'utf8' });
    }
    t.is(build.status, 0, build.stderr);
    const run = spawnSync(bin, { encoding: 'utf8' });
    t.is(run.status, 0, run.stdout + run.stderr);
    t.notRegex(run.stdout, /^not ok/m);
    t.regex(run.stdout, /^1\.\.7$/m);
  });

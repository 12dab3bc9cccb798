/**
 * scrooge doctor's checks with injected inputs (capabilities, clock, uid,
 * files in a temp dir), and the CLI's JSON and exit status. No root needed.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { SEQ_RESERVE_BLOCK } from '../src/control/seq.js';
import { loadConfig } from '../src/config.js';
import {
  checkClock,
  checkNetAdmin,
  checkNftables,
  checkStateDir,
  describe,
  effectiveCapabilities,
} from '../src/doctor.js';
import { runCli } from './helpers/cli.js';

function cfgIn(dir: string, extra: Record<string, unknown> = {}) {
  return loadConfig({ 'state-dir': dir, ...extra }, undefined, { requireInterfaces: false });
}

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'scrooge-doctor-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('CAP_NET_ADMIN: read from CapEff; missing is a failure that says how to grant it', (t) => {
  t.is(effectiveCapabilities('Name:\tnode\nCapEff:\t000001ffffffffff\n'), 0x1ffffffffffn);
  t.is(effectiveCapabilities('no such line'), undefined);
  t.is(checkNetAdmin('CapEff:\t0000000000001000\n').status, 'ok');
  const missing = checkNetAdmin('CapEff:\t0000000000000000\n');
  t.is(missing.status, 'fail');
  t.regex(missing.detail, /AmbientCapabilities=CAP_NET_ADMIN/);
  t.is(checkNetAdmin('').status, 'warn');
});

test('nftables is not checked with --forwarding off', (t) => {
  const r = checkNftables(cfgIn(tempDir(t), { forwarding: 'off' }));
  t.is(r.status, 'skip');
  t.regex(r.detail, /--forwarding off/);
});

test('clock: sane, never set, behind the last run (warnings: the floor keeps seq safe), corrupt floor (failure)', (t) => {
  const dir = tempDir(t);
  const cfg = cfgIn(dir);
  const now = Date.UTC(2026, 11, 1);
  t.is(checkClock(cfg, now).status, 'ok');
  const unset = checkClock(cfg, Date.UTC(1970, 0, 2));
  t.is(unset.status, 'warn');
  t.regex(unset.detail, /1970-01-02.*continue from the stored floor/);
  // the last run reserved up to (its clock + one block): its clock was an hour ahead of ours
  const lastRunUs = BigInt(now + 3_600_000) * 1000n;
  writeFileSync(join(dir, 'seq'), `${lastRunUs + SEQ_RESERVE_BLOCK}\n`);
  const behind = checkClock(cfg, now);
  t.is(behind.status, 'warn');
  t.regex(behind.detail, /3600 s behind the last run/);
  writeFileSync(join(dir, 'seq'), 'garbage\n');
  t.is(checkClock(cfg, now).status, 'fail');
});

test('state directory and key file: created later, safe, writable by others, foreign owner, readable key', (t) => {
  const base = tempDir(t);
  const uid = process.getuid?.() ?? 0;
  const fresh = checkStateDir(cfgIn(join(base, 'new')), uid);
  t.deepEqual(
    fresh.map((r) => r.status),
    ['ok', 'ok'],
  );
  t.regex(fresh[0]?.detail ?? '', /will be created \(mode 0700\)/);

  const dir = join(base, 'state');
  mkdirSync(dir, { mode: 0o700 });
  t.is(checkStateDir(cfgIn(dir), uid)[0]?.status, 'ok');
  chmodSync(dir, 0o777);
  const open = checkStateDir(cfgIn(dir), uid)[0];
  t.is(open?.status, 'fail');
  t.is(
    open && describe(open),
    `state directory: ${dir} is writable by others (mode 777): another user could replace the key or the sequence floor; chmod 700 ${dir}`,
  );
  chmodSync(dir, 0o700);
  t.regex(checkStateDir(cfgIn(dir), uid + 1)[0]?.detail ?? '', /belongs to uid/);

  writeFileSync(join(dir, 'key'), 'x', { mode: 0o644 });
  chmodSync(join(dir, 'key'), 0o644);
  const key = checkStateDir(cfgIn(dir), uid)[1];
  t.is(key?.status, 'fail');
  t.regex(key?.detail ?? '', /chmod 600/);
});

test('scrooge doctor --json: every check with a stable id; exit status follows failures', (t) => {
  const dir = tempDir(t);
  const r = runCli(['doctor', '--json', '--state-dir', join(dir, 's'), '--interface', 'nonexistent0']);
  const out = JSON.parse(r.stdout) as { ok: boolean; checks: Array<{ id: string; status: string }> };
  t.deepEqual(
    out.checks.map((c) => c.id),
    [
      'tun',
      'cap_net_admin',
      'nftables',
      'ipv6',
      'interface:nonexistent0',
      'addon',
      'udp_offload',
      'tun_offload',
      'fast_path',
      'crypto',
      'babeld',
      'clock',
      'state_dir',
      'key_file',
    ],
  );
  t.is(out.checks.find((c) => c.id === 'interface:nonexistent0')?.status, 'warn');
  t.is(r.code, out.ok ? 0 : 1);
  t.is(out.ok, !out.checks.some((c) => c.status === 'fail'));
});

test('scrooge up refuses to start on a failed check, with doctor words, before touching the system', (t) => {
  const dir = tempDir(t);
  chmodSync(dir, 0o777);
  const r = runCli(['up', '--interface', 'nonexistent0', '--state-dir', dir]);
  t.is(r.code, 1);
  t.true(
    r.stderr.includes(
      `  state directory: ${dir} is writable by others (mode 777): another user could replace the key or the sequence floor; chmod 700 ${dir}\n`,
    ),
    r.stderr,
  );
  t.regex(r.stderr, /^scrooge: cannot start:\n/m);
  t.regex(r.stderr, /level=warn msg="interface nonexistent0: not present: scrooge waits for it to appear"/);
  t.regex(r.stderr, /\(scrooge doctor checks everything; SCROOGE_SKIP_PREFLIGHT=1 skips these checks\)\n$/);
  const doctor = runCli(['doctor', '--interface', 'nonexistent0', '--state-dir', dir]);
  t.is(doctor.code, 1);
  t.regex(doctor.stdout, new RegExp(`FAIL  state directory +${dir} is writable by others`));
});

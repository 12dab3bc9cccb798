import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { linkLocalAddress, tunName } from '../dataplane/names.js';
import { runCli } from './helpers/cli.js';

test('keygen --out writes a 0600 key and prints the public key; inspect shows what derives from it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'scrooge-cli-'));
  try {
    const key = join(dir, 'node.key');
    const g = runCli(['keygen', '--out', key]);
    t.is(g.code, 0, g.stderr);
    const pub = g.stdout.trim();
    t.regex(pub, /^[A-Za-z0-9+/]{43}=$/);
    t.is(statSync(key).mode & 0o777, 0o600);
    const again = runCli(['keygen', '--out', key]);
    t.is(again.code, 1);
    t.regex(again.stderr, /already exists/);

    const i = runCli(['inspect', '--key', key, '--interface', 'eth0', '--json']);
    t.is(i.code, 0, i.stderr);
    const info = JSON.parse(i.stdout) as { publicKey: string; linkLocal: string; tunNames: Record<string, string> };
    const raw = new Uint8Array(Buffer.from(pub, 'base64'));
    t.is(info.publicKey, pub);
    t.is(info.linkLocal, linkLocalAddress(raw));
    t.is(info.tunNames.eth0, tunName('scr', raw, 'eth0'));
    t.regex(info.tunNames.eth0 ?? '', /^scr[0-9a-f]{12}$/, 'as many hex digits as fit in 15 characters');

    const byKey = runCli(['inspect', pub, '--interface', 'eth0']);
    t.is(byKey.code, 0);
    t.regex(byKey.stdout, new RegExp(`link-local\\s+${info.linkLocal}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad flags and values: one error line, non-zero exit, no stack trace', (t) => {
  const cases: Array<[string[], number, RegExp]> = [
    [['inspect', '--nope'], 2, /^scrooge: inspect: Unknown option '--nope'/],
    [['inspect', 'notakey'], 2, /is not a public key/],
    [['inspect', '--key', '/nonexistent/key'], 1, /does not exist; create it with: scrooge keygen/],
    [['inspect', '--tun-prefix', 'waytoolongprefix'], 2, /TUN prefix/],
    [['frobnicate'], 2, /unknown command "frobnicate"/],
    [['keygen', 'extra'], 2, /unexpected argument "extra"/],
  ];
  for (const [args, code, re] of cases) {
    const r = runCli(args);
    t.is(r.code, code, args.join(' '));
    t.regex(r.stderr, re);
    t.is(r.stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}: ${r.stderr}`);
    t.notRegex(r.stderr, /\n\s+at /);
  }
});

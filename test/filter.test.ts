import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { isScroogeError } from '../base/errors.js';
import { nullLogger } from '../dataplane/log.js';
import { ForwardingFilter, tableRuleset } from '../src/filter.js';

test('the table: one transaction that replaces, named sets, named counters, mesh rule', (t) => {
  const r = tableRuleset('mesh', ['eth0', 'wlan0'], []);
  t.true(
    r.startsWith('table inet scrooge\ndelete table inet scrooge\ntable inet scrooge {\n'),
    'create-if-missing, delete, define: atomic replace',
  );
  t.regex(r, /set mesh_ifaces \{\n\t\ttype ifname\n\t\telements = \{ "eth0", "wlan0" \}\n\t\}/);
  t.regex(r, /set tunnel_ifaces \{\n\t\ttype ifname\n\t\}/, 'an empty set has no elements clause');
  t.regex(
    r,
    /type filter hook forward priority filter; policy accept;\n\t\tiifname @mesh_ifaces counter name "mesh_dropped" drop\n\t\}/,
  );
  t.notRegex(r, /strict_dropped" drop/);
  t.notRegex(r, /flush ruleset/);
  const s = tableRuleset('strict', ['eth0'], ['scr12345678']);
  t.regex(s, /iifname != @tunnel_ifaces counter name "strict_dropped" drop/);
  t.regex(s, /elements = \{ "scr12345678" \}/);
});

test('interface names are checked before they reach nft', (t) => {
  t.throws(() => tableRuleset('mesh', ['eth0"; flush ruleset; "'], []), { message: /bad interface name/ });
});

test('nftables missing: a clear error naming what to install, unless --forwarding off', (t) => {
  const err = t.throws(() => new ForwardingFilter('mesh', ['eth0'], nullLogger, null).start());
  t.true(isScroogeError(err, 'ERR_NFTABLES'));
  t.regex(
    err.message,
    /nftables \(nft\) is not installed: install it \(Debian: apt-get install nftables\) or run with --forwarding off/,
  );
  t.notThrows(() => new ForwardingFilter('off', ['eth0'], nullLogger, null).start());
});

test('any number of concurrent counter reads (API, metrics) runs one nft; the table is fed on stdin, no temp files', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'scrooge-fakenft-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'calls');
  const fake = join(dir, 'nft');
  // a stand-in for nft: records each call (and what arrives on stdin for -f -), answers like nft -j
  writeFileSync(
    fake,
    `#!/bin/sh\necho "$*" >> ${log}\nif [ "$2" = "-" ]; then cat > ${dir}/stdin; fi\n` +
      `if [ "$1" = "-j" ]; then sleep 0.2; echo '{"nftables":[{"counter":{"name":"mesh_dropped","packets":3,"bytes":300}}]}'; fi\n`,
    { mode: 0o755 },
  );
  const before = readdirSync(tmpdir()).filter((f) => f.startsWith('scrooge-nft-')).length;
  const f = new ForwardingFilter('mesh', ['eth0'], nullLogger, fake);
  f.start();
  t.is(readFileSync(join(dir, 'stdin'), 'utf8'), tableRuleset('mesh', ['eth0'], []));
  t.is(readdirSync(tmpdir()).filter((x) => x.startsWith('scrooge-nft-')).length, before, 'no script directory');
  const answers = await Promise.all(Array.from({ length: 200 }, () => f.counters()));
  t.true(answers.every((a) => a?.meshDropped.packets === 3 && a.strictDropped.packets === 0));
  t.is((await f.counters())?.meshDropped.bytes, 300, 'a fresh answer is reused');
  const listings = readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('-j list counters'));
  t.is(listings.length, 1, 'one nft for 201 reads');
});

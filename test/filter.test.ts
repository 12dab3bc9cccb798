import test from 'ava';
import { isScroogeError } from '../crypto/index.js';
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

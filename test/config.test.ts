import test from 'ava';
import { isScroogeError } from '../base/errors.js';
import { loadConfig, SETTINGS, upFlagOptions } from '../src/config.js';
import { parseDuration, parseRate } from '../src/values.js';
import { runCli } from './helpers/cli.js';

const PK = 'Qf1nBwah48yUx0V/8pqctyhXEWf7cxsJfspXfhh5+Rg=';

function cfgError(flags: Record<string, unknown>, file?: string): string {
  try {
    loadConfig(flags, () => file ?? '');
  } catch (e) {
    if (isScroogeError(e, 'ERR_CONFIG')) return e.message;
    throw e;
  }
  return 'OK';
}

test('defaults, flags and file merge; flags win', (t) => {
  const file = JSON.stringify({ interfaces: ['eth0'], helloInterval: '2s', share: 0.5, stateDir: '/tmp/x' }, null, 2);
  const c = loadConfig({ config: 'node.json', share: '0.25', interface: ['wlan0', 'eth1'] }, () => file);
  t.deepEqual(c.interfaces, ['wlan0', 'eth1']);
  t.is(c.helloIntervalMs, 2000);
  t.is(c.share, 0.25);
  t.is(c.key, '/tmp/x/key');
  t.is(c.api, '/tmp/x/scrooge.sock');
  t.is(c.port, 8481);
  t.is(c.tunPrefix, 'scr');
  t.is(c.forwarding, 'mesh');
  t.is(c.scheduler, 'wtb-drr');
  t.true(c.gso);
  t.is(c.babelInterface, 'type tunnel');
  t.is(
    loadConfig({ interface: ['a'], 'babel-interface': '  type tunnel   hello-interval 1 ' }).babelInterface,
    'type tunnel hello-interval 1',
  );
  t.false(loadConfig({ interface: ['a'], 'no-gso': true }).gso);
});

test('a bad flag value names the flag and why', (t) => {
  t.is(
    cfgError({ interface: ['eth0'], 'hello-interval': 'soon' }),
    '--hello-interval: "soon" is not a duration (e.g. 5s, 500ms, 2m)',
  );
  t.is(cfgError({ interface: ['eth0'], share: '1.5' }), '--share: "1.5" is not a share between 0 and 1');
  t.is(
    cfgError({ interface: ['eth0'], capacity: 'fast' }),
    '--capacity: "fast" is not a rate (e.g. 100mbit, 1gbit, 500kbit)',
  );
  t.is(cfgError({ interface: ['eth0'], port: '70000' }), '--port: "70000" is not an integer from 1 to 65535');
  t.is(
    cfgError({ interface: ['eth0'], address: ['10.0.0.1/33'] }),
    '--address: "10.0.0.1/33": prefix length must be 0-32',
  );
  t.is(cfgError({ interface: ['eth0'], peer: ['fe80::1'] }), '--peer: "fe80::1": a link-local peer needs %iface');
  t.is(cfgError({ interface: ['eth0'], forwarding: 'loose' }), '--forwarding: "loose" is not one of mesh, strict, off');
  t.regex(cfgError({ interface: ['eth0'], 'tun-prefix': 'toolongprefix' }), /^--tun-prefix: TUN prefix/);
  t.is(cfgError({}), 'no mesh interface: give --interface IFACE (or "interfaces" in the config file)');
  t.is(
    cfgError({ interface: ['eth0'], 'babel-interface': 'type tunnel\nredistribute deny' }),
    '--babel-interface: "type tunnel\\nredistribute deny" is not a list of babeld interface parameters (e.g. "type tunnel hello-interval 1")',
  );
});

test('a bad config file value names the file, the line and the key', (t) => {
  const file = `{\n  "interfaces": ["eth0"],\n  "share": 0.5,\n  "helloInterval": "sometimes",\n  "port": 8481\n}\n`;
  t.is(
    cfgError({ config: 'node.json' }, file),
    'node.json:4: helloInterval: "sometimes" is not a duration (e.g. 5s, 500ms, 2m)',
  );
  t.is(
    cfgError({ config: 'n.json' }, '{\n  "interfaces": ["eth0"],\n  "colour": "blue"\n}'),
    `n.json:3: colour: unknown setting (known: ${SETTINGS.map((s) => s.key).join(', ')})`,
  );
  t.regex(
    cfgError({ config: 'n.json' }, '{\n  "interfaces": ["eth0"],\n  "share": 0.5,\n}'),
    /^n\.json:4: not valid JSON/,
  );
  t.is(cfgError({ config: 'n.json' }, '{ "interfaces": "eth0" }'), 'n.json:1: interfaces: must be a list');
  const nb = `{\n  "interfaces": ["eth0"],\n  "neighbors": {\n    "${PK}": { "weight": -3 }\n  }\n}`;
  t.is(cfgError({ config: 'n.json' }, nb), `n.json:4: neighbors: ${PK}: weight: -3 is not a weight (0.01 to 10000)`);
  const good = `{\n  "interfaces": ["eth0"],\n  "neighbors": { "${PK}": { "weight": 3, "rate": "20mbit" } }\n}`;
  t.deepEqual(loadConfig({ config: 'n.json' }, () => good).neighbors, { [PK]: { weight: 3, rate: 20e6 } });
});

test('rate and duration units', (t) => {
  t.is(parseRate('100mbit'), 100e6);
  t.is(parseRate('1gbit'), 1e9);
  t.is(parseRate('64kbit'), 64e3);
  t.is(parseRate('1500000'), 1.5e6);
  t.is(parseRate(2e6), 2e6);
  t.throws(() => parseRate('1bit'));
  t.throws(() => parseRate('100 parsecs'));
  t.is(parseDuration('500ms'), 500);
  t.is(parseDuration('2m'), 120_000);
  t.is(parseDuration(5), 5000);
  t.throws(() => parseDuration('0s'));
});

test('every setting has a flag or is file-only, and parseArgs knows every flag', (t) => {
  const o = upFlagOptions();
  for (const s of SETTINGS) {
    if (s.fileOnly) continue;
    t.truthy(o[s.flag], s.flag);
  }
});

test('scrooge up: a bad flag is one error line naming it, exit 2, before touching the system', (t) => {
  const r = runCli(['up', '--interface', 'eth0', '--share', 'lots']);
  t.is(r.code, 2);
  t.is(r.stderr, 'scrooge: --share: "lots" is not a share between 0 and 1\n');
  const u = runCli(['up', '--interface', 'eth0', '--frobnicate']);
  t.is(u.code, 2);
  t.regex(u.stderr, /^scrooge: up: Unknown option '--frobnicate'/);
});

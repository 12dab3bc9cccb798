/**
 * The README is tested like code.
 *
 * - Generated parts (settings and limits tables) are up to date.
 * - The example config is doc/scrooge.example.json and loads.
 * - Every command and every setting is documented.
 * - As root: every ```sh block not marked {manual} runs, in order, in a
 *   network namespace "node" whose eth0 is a veth to a namespace running a
 *   real peer daemon. The block marked {background} (`scrooge up …`) is
 *   started and awaited (API up, one tunnel up) before the next block. The
 *   filter table printed in the README matches what the daemon installs.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { apiRequest } from '../src/api.js';
import { loadConfig, SETTINGS } from '../src/config.js';
import { README_PATH, regenerate } from '../tools/docgen.js';
import { LIMITS, PROTOCOL } from '../src/limits.js';
import { CLI, runCli } from './helpers/cli.js';
import { startDaemon, waitUp } from './helpers/daemon.js';
import { Lab, NFT, waitFor } from './helpers/netns.js';
import { rootTest } from './helpers/root.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const readme = readFileSync(README_PATH, 'utf8');

interface Block {
  lang: string;
  attrs: string[];
  body: string;
  line: number;
}

function blocks(text: string): Block[] {
  const out: Block[] = [];
  const re = /^```(\w*)([^\n]*)\n([\s\S]*?)^```$/gm;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    const attrs =
      /\{([^}]*)\}/
        .exec(m[2] ?? '')?.[1]
        ?.split(/\s+/)
        .filter(Boolean) ?? [];
    out.push({ lang: m[1] ?? '', attrs, body: m[3] ?? '', line: text.slice(0, m.index).split('\n').length });
  }
  return out;
}

/** The first fenced block after a marker comment. */
function blockAfter(marker: string): string {
  const i = readme.indexOf(`<!-- ${marker} -->`);
  if (i < 0) throw new Error(`README.md has no <!-- ${marker} --> marker`);
  const b = blocks(readme.slice(i))[0];
  if (!b) throw new Error(`no code block after <!-- ${marker} -->`);
  return b.body;
}

test('generated parts of the README are up to date (node dist/tools/docgen.js)', (t) => {
  t.is(regenerate(readme), readme);
});

test('every setting, limit and command is in the README', (t) => {
  for (const s of SETTINGS) {
    t.true(readme.includes(`\`${s.key}\``), `config key ${s.key}`);
    if (!s.fileOnly) t.true(readme.includes(`--${s.flag}`), `flag --${s.flag}`);
  }
  for (const k of [...Object.keys(LIMITS), ...Object.keys(PROTOCOL)]) t.true(readme.includes(`\`${k}\``), `limit ${k}`);
  const help = runCli(['--help']).stdout;
  const commands = [...help.matchAll(/^ {2}(\w+) {2,}/gm)].map((m) => m[1] as string);
  t.true(commands.length >= 8, help);
  for (const c of commands) t.true(readme.includes(`\`scrooge ${c}`), `command ${c}`);
});

test('the example config is doc/scrooge.example.json and loads', (t) => {
  const text = blockAfter('example-config');
  t.is(text, readFileSync(join(ROOT, 'doc/scrooge.example.json'), 'utf8'));
  const cfg = loadConfig({ config: 'scrooge.json' }, () => text);
  t.deepEqual(cfg.interfaces, ['eth0', 'wlan0']);
  t.is(cfg.capacity, 100e6);
  t.is(cfg.share, 0.8);
  t.is(Object.keys(cfg.neighbors).length, 2);
});

test('sh blocks are marked: run, {background} or {manual} with a reason', (t) => {
  const sh = blocks(readme).filter((b) => b.lang === 'sh');
  t.true(sh.filter((b) => b.attrs.length === 0).length >= 5);
  t.is(sh.filter((b) => b.attrs.includes('background')).length, 1);
  for (const b of sh.filter((x) => x.attrs.includes('manual'))) {
    const after = readme
      .split('\n')
      .slice(b.line, b.line + b.body.split('\n').length + 6)
      .join('\n');
    t.regex(after, /\(Not run by the README test: /, `manual block at README.md:${b.line} says why`);
  }
});

/** nft's listing without what differs between hosts: set elements and counter values. */
function shape(listing: string): string {
  return listing
    .replace(/elements = \{[^}]*\}/g, 'elements = { … }')
    .replace(/packets \d+ bytes \d+/g, 'packets N bytes N')
    .split('\n')
    .map((l) => l.trimEnd())
    .filter(Boolean)
    .join('\n');
}

rootTest('README shell blocks run as written (root)', async (t) => {
  const lab = new Lab('rd');
  t.teardown(() => lab.cleanup());
  const node = lab.addNs('node');
  const peer = lab.addNs('peer');
  lab.veth(node, 'eth0', peer, 'eth0');
  await lab.ready();
  const p = await startDaemon(lab, peer, 'peer', ['eth0']);

  // `scrooge` on PATH; the system nft, not node_modules/.bin/nft (@vercel/nft)
  const work = mkdtempSync(join(tmpdir(), 'scrooge-readme-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const bin = join(work, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'scrooge'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`, { mode: 0o755 });
  const cwd = join(work, 'cwd');
  mkdirSync(cwd);
  symlinkSync(join(ROOT, 'dist'), join(cwd, 'dist'));
  const stateDir = join(work, 'state');
  const path = [bin, ...(process.env.PATH ?? '').split(delimiter).filter((d) => !d.includes('node_modules'))].join(
    delimiter,
  );
  const env = ['env', '-C', cwd, `PATH=${path}`, `SCROOGE_STATE_DIR=${stateDir}`, `HOME=${work}`];

  const sh = blocks(readme).filter((b) => b.lang === 'sh' && !b.attrs.includes('manual'));
  let ran = 0;
  for (const b of sh) {
    const where = `README.md:${b.line}`;
    if (b.attrs.includes('background')) {
      const proc = lab.spawn(node, [...env, 'bash', '-c', `exec ${b.body.trim()}`]);
      t.teardown(() => lab.stop(proc).then(() => undefined));
      const api = join(stateDir, 'scrooge.sock');
      await waitFor(`${where}: the daemon's API`, async () => {
        if (proc.child.exitCode !== null) throw new Error(`${where} exited: ${proc.lines.slice(-5).join(' | ')}`);
        return (await apiRequest(api, 'GET', '/v1/status')) as object;
      });
      await waitUp({ ...p, api, stateDir }, 1, 15_000);
      await waitUp(p, 1, 15_000);
      continue;
    }
    const r = lab.run(node, [...env, 'bash', '-eo', 'pipefail', '-c', b.body]);
    t.is(r.status, 0, `${where} failed:\n${b.body}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    ran++;
  }
  t.true(ran >= 5);

  // the filter table in the README is the one the daemon installs
  const live = lab.exec(node, [NFT, 'list', 'table', 'inet', 'scrooge']);
  t.is(shape(blockAfter('filter-table')), shape(live));
});

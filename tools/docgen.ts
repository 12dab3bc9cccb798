/**
 * Generated parts of the README, so it cannot drift from the code: the
 * settings table (from SETTINGS) and the limits table (from base/constants.ts,
 * with each limit's reason taken from its doc comment). Each part sits
 * between `<!-- NAME:begin -->` and `<!-- NAME:end -->`.
 *
 *   node dist/tools/docgen.js          rewrite README.md in place
 *   node dist/tools/docgen.js --check  exit 1 if README.md is out of date
 *
 * test/readme.test.ts runs the check.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SETTINGS } from '../src/config.js';
import { LIMITS, MTU, NATIVE, PROTOCOL } from '../base/constants.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const README_PATH = `${ROOT}README.md`;
const LIMITS_SOURCE = `${ROOT}base/constants.ts`;

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function settingsTable(): string {
  const rows = SETTINGS.map((s) => {
    let flag = '';
    if (!s.fileOnly) {
      flag = s.kind === 'boolean' ? `\`--${s.flag}\`, \`--no-${s.flag}\`` : `\`--${s.flag}\``;
      if (s.kind === 'list') flag += ' (repeatable)';
    }
    return [flag || '(file only)', `\`${s.key}\``, cell(s.def ?? ''), cell(s.help)];
  });
  return table(['flag', 'config key', 'default', 'meaning'], rows);
}

function formatValue(v: unknown): string {
  if (Array.isArray(v)) return v.join(', ');
  if (typeof v === 'number')
    return Number.isInteger(v) && Math.abs(v) >= 10_000 ? v.toLocaleString('en-US') : String(v);
  return String(v);
}

/** `key → reason` from the doc comments in base/constants.ts. */
export function limitReasons(source = readFileSync(LIMITS_SOURCE, 'utf8')): Map<string, string> {
  const out = new Map<string, string>();
  const re = /\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*(\w+):/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(source)) !== null) {
    const text = (m[1] ?? '')
      .split('\n')
      .map((l) => l.replace(/^\s*\*\s?/, '').trim())
      .filter(Boolean)
      .join(' ');
    out.set(m[2] as string, text);
  }
  return out;
}

export function limitsTable(): string {
  const reasons = limitReasons();
  const rows = Object.entries(LIMITS).map(([k, v]) => [`\`${k}\``, formatValue(v), cell(reasons.get(k) ?? '')]);
  const mtu = Object.entries(MTU).map(([k, v]) => [`\`mtu.${k}\``, formatValue(v), cell(reasons.get(k) ?? '')]);
  const nat = Object.entries(NATIVE)
    .filter(([k]) => /^(gro|tun)/.test(k))
    .map(([k, v]) => [`\`native.${k}\``, formatValue(v), cell(reasons.get(k) ?? '')]);
  const proto = Object.entries(PROTOCOL).map(([k, v]) => [
    `\`${k}\``,
    formatValue(v),
    cell(`fixed by DESIGN.md: ${reasons.get(k) ?? ''}`),
  ]);
  return table(['limit', 'value', 'why'], [...rows, ...mtu, ...nat, ...proto]);
}

export const PARTS: Record<string, () => string> = {
  'settings-table': settingsTable,
  'limits-table': limitsTable,
};

/** The README with every generated part replaced; throws if a marker is missing. */
export function regenerate(readme: string): string {
  let out = readme;
  for (const [name, gen] of Object.entries(PARTS)) {
    const begin = `<!-- ${name}:begin -->`;
    const end = `<!-- ${name}:end -->`;
    const i = out.indexOf(begin);
    const j = out.indexOf(end);
    if (i < 0 || j < i) throw new Error(`README.md: markers ${begin} … ${end} are missing`);
    out = `${out.slice(0, i + begin.length)}\n\n${gen()}\n\n${out.slice(j)}`;
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const current = readFileSync(README_PATH, 'utf8');
  const next = regenerate(current);
  if (process.argv.includes('--check')) {
    if (next !== current) {
      process.stderr.write('README.md is out of date: run `node dist/tools/docgen.js`\n');
      process.exit(1);
    }
  } else if (next !== current) {
    writeFileSync(README_PATH, next);
    process.stdout.write('README.md updated\n');
  } else process.stdout.write('README.md is up to date\n');
}

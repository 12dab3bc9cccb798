/**
 * Shared CLI plumbing: strict flag parsing that turns every mistake into one
 * ScroogeError line, table output, and the default paths.
 */

import { ControlError } from './errors.js';
import { type ParseArgsConfig, parseArgs } from 'node:util';

/** Default state directory; SCROOGE_STATE_DIR overrides it (several nodes on one host, tests). */

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/** parseArgs with strict checking; errors become ERR_USAGE naming the command. */
export function parseFlags(command: string, args: string[], options: OptionSpec, maxPositionals: number): Parsed {
  let parsed: Parsed;
  try {
    const r = parseArgs({ args, options, strict: true, allowPositionals: true });
    parsed = { values: r.values, positionals: r.positionals };
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0] ?? String(e);
    throw new ControlError('ERR_USAGE', `${command}: ${msg.replace(/\. To specify a positional argument.*$/, '')}`);
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new ControlError('ERR_USAGE', `${command}: unexpected argument "${parsed.positionals[maxPositionals]}"`);
  }
  return parsed;
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function strs(p: Parsed, name: string): string[] {
  const v = p.values[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
}

export function flag(p: Parsed, name: string): boolean {
  return p.values[name] === true;
}

/** Renders rows as an aligned text table. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * The import graph of doc/ARCHITECTURE.md, checked on the sources: every
 * import (type-only ones too) points down the layers base ← crypto ←
 * dataplane ← src ← tools ← cli, and no module imports itself back through
 * others (no circle).
 */
import test from 'ava';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LAYERS = ['base', 'crypto', 'dataplane', 'src', 'tools', 'cli'];

function sources(): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts')) out.push(p);
    }
  };
  for (const l of LAYERS) walk(join(ROOT, l));
  return out;
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gms)].map((m) =>
    resolve(dirname(file), m[1] as string).replace(/\.js$/, '.ts'),
  );
}

const layerOf = (f: string) => LAYERS.indexOf(relative(ROOT, f).split('/')[0] as string);

test('no import points up a layer', (t) => {
  const up: string[] = [];
  for (const f of sources()) {
    for (const d of imports(f)) if (layerOf(d) > layerOf(f)) up.push(`${relative(ROOT, f)} → ${relative(ROOT, d)}`);
  }
  t.deepEqual(up, []);
});

test('no import circle', (t) => {
  const files = sources();
  const edges = new Map(files.map((f) => [f, imports(f)]));
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const circles: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 1);
    stack.push(n);
    for (const d of edges.get(n) ?? []) {
      if (!edges.has(d)) continue;
      if (state.get(d) === 1)
        circles.push(
          stack
            .slice(stack.indexOf(d))
            .map((x) => relative(ROOT, x))
            .join(' → '),
        );
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(n, 2);
  };
  for (const f of files) if (!state.has(f)) visit(f);
  t.deepEqual(circles, []);
  t.true(files.length > 50, `read ${files.length} modules`);
});

test('the benchmarks take their labs from tools/, not from test/', (t) => {
  const dir = join(ROOT, 'bench');
  const wrong = readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .flatMap((f) =>
      imports(join(dir, f))
        .filter((d) => relative(ROOT, d).startsWith('test/'))
        .map(() => f),
    );
  t.deepEqual(wrong, []);
});

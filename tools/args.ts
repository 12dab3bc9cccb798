/** `--name value` options of the benchmark scripts (the default when absent or given without a value). */
export function benchOption(name: string, def: string, argv: readonly string[] = process.argv.slice(2)): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? (argv[i + 1] ?? def) : def;
}

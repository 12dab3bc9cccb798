/** The demo's output: a live block redrawn on a terminal, plain lines otherwise. */
export class Screen {
  private drawn = 0;
  constructor(readonly live: boolean) {}
  /** Replaces the live block (terminal) or prints the lines (plain). */
  show(lines: string[]): void {
    if (!this.live) return;
    let out = '';
    if (this.drawn > 0) out += `\x1b[${this.drawn}A`;
    for (const l of lines) out += `\x1b[2K${l}\n`;
    this.drawn = lines.length;
    process.stdout.write(out);
  }
  log(line: string): void {
    if (this.live) this.drawn = 0;
    process.stdout.write(`${line}\n`);
  }
}

/** a's and b's rates as a bar of `width` cells of the capacity. */
export function bar(a: number, b: number, capacityMbit: number): string {
  const width = 30;
  const cells = (x: number) => Math.max(0, Math.min(width, Math.round((x / capacityMbit) * width)));
  const na = cells(a);
  return `${'█'.repeat(na)}${'▒'.repeat(Math.max(0, cells(a + b) - na))}`;
}

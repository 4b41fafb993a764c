// Output helpers shared by the commands: tables, ages and the `--max-age` duration syntax.
import { parseDuration } from '../rotation/duration.ts';

/** Left-aligned columns separated by three spaces, as kubectl prints them. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

const DAY_MS = 86_400_000;
const AGE = /^(?:([0-9]+(?:\.[0-9]+)?)d)?(.*)$/;

/**
 * Parses an age such as "30d", "1d12h", "720h", "90m" or "0s": days (which Go durations lack,
 * but are how people think of credential age) followed by an optional Go duration.
 * @throws Error naming the bad input.
 */
export function parseAge(text: string): number {
  const match = AGE.exec(text.trim());
  const days = match?.[1];
  const rest = match?.[2] ?? '';
  if (!match || (days === undefined && rest === '')) {
    throw new Error(`invalid age ${JSON.stringify(text)}: expected e.g. "30d", "1d12h", "720h" or "0s"`);
  }
  let restMs = 0;
  if (rest !== '') {
    try {
      restMs = parseDuration(rest);
    } catch {
      throw new Error(`invalid age ${JSON.stringify(text)}: expected e.g. "30d", "1d12h", "720h" or "0s"`);
    }
  }
  return Math.round((days === undefined ? 0 : Number(days) * DAY_MS) + restMs);
}

/**
 * A short, human age or time left: "45s", "3m20s", "5h12m", "29d3h". Two units at most: enough
 * to judge a credential's life at a glance. Negative values get a leading "-".
 */
export function humanDuration(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  const s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return `${sign}${d}d${h > 0 ? `${h}h` : ''}`;
  if (h > 0) return `${sign}${h}h${m > 0 ? `${m}m` : ''}`;
  if (m > 0) return `${sign}${m}m${sec > 0 ? `${sec}s` : ''}`;
  return `${sign}${sec}s`;
}

/** `n thing` or `n things`. */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

import Table from 'cli-table3';

/** A plain table for people: no borders, columns padded, left aligned. */
export function table(head: string[], rows: Array<Array<string | number>>): string {
  const t = new Table({
    head,
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 2 },
    chars: {
      top: '',
      'top-mid': '',
      'top-left': '',
      'top-right': '',
      bottom: '',
      'bottom-mid': '',
      'bottom-left': '',
      'bottom-right': '',
      left: '',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '',
      'right-mid': '',
      middle: '',
    },
  });
  t.push(...rows.map((row) => row.map(String)));
  return t.toString();
}

/** A short human age: `42s`, `3m12s`, `5h03m`, `2d04h`. */
export function age(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400)
    return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d${String(Math.floor((s % 86_400) / 3600)).padStart(2, '0')}h`;
}

/** Age of an RFC 3339 time, relative to now. */
export function since(time: string | null): string {
  return time === null ? '' : age((Date.now() - Date.parse(time)) / 1000);
}

/** Cut text to one line of at most `width` characters. */
export function clip(text: string | null, width = 60): string {
  if (text === null) return '';
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > width ? `${line.slice(0, width - 1)}…` : line;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

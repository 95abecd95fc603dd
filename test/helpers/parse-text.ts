/**
 * A small, independent reader of text format 0.0.4 samples, for tests: it turns exposition text
 * back into `name{sorted labels}` -> value, undoing the escapes, so that a test can compare what
 * was recorded with what a scraper would read. It is strict about the layout we promise (one
 * space between tokens, no trailing space, LF line ends) and throws on anything else.
 */

export interface ParsedSample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

function parseValue(token: string): number {
  if (token === '+Inf') return Infinity;
  if (token === '-Inf') return -Infinity;
  if (token === 'NaN') return NaN;
  if (!/^-?\d+(\.\d+)?(e[+-]?\d+)?$/.test(token)) throw new Error(`bad value ${JSON.stringify(token)}`);
  return Number(token);
}

/** Parses every sample line of `text`. */
export function parseSamples(text: string): ParsedSample[] {
  if (text !== '' && !text.endsWith('\n')) throw new Error('text must end with LF');
  const out: ParsedSample[] = [];
  for (const line of text.split('\n').slice(0, -1)) {
    if (line.startsWith('#')) continue;
    let i = 0;
    while (i < line.length && line[i] !== '{' && line[i] !== ' ') i++;
    const name = line.slice(0, i);
    const labels: Record<string, string> = {};
    if (line[i] === '{') {
      i++;
      while (line[i] !== '}') {
        const eq = line.indexOf('="', i);
        const label = line.slice(i, eq);
        i = eq + 2;
        let value = '';
        for (;;) {
          const c = line[i++];
          if (c === undefined) throw new Error(`unterminated label value in ${line}`);
          if (c === '"') break;
          if (c === '\\') {
            const e = line[i++];
            if (e === '\\') value += '\\';
            else if (e === '"') value += '"';
            else if (e === 'n') value += '\n';
            else throw new Error(`invalid escape \\${e} in ${line}`);
          } else value += c;
        }
        labels[label] = value;
        if (line[i] === ',') i++;
      }
      i++;
    }
    if (line[i] !== ' ') throw new Error(`expected one space after name/labels in ${JSON.stringify(line)}`);
    const rest = line.slice(i + 1);
    if (rest.includes(' ') || rest === '') throw new Error(`expected a single value token in ${JSON.stringify(line)}`);
    out.push({ name, labels, value: parseValue(rest) });
  }
  return out;
}

/** A stable key for a sample: name plus labels sorted by name. */
export function sampleKey(name: string, labels: Record<string, string>): string {
  return name + JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));
}

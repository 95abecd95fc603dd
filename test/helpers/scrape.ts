/** Scraping a running server and reading series out of the exposition text. */
import { http } from './project.js';
import { parseSamples, sampleKey, type ParsedSample } from './parse-text.js';

/** One scrape, parsed: value(name, labels) reads a series (0 when absent). */
export interface Scrape {
  readonly text: string;
  readonly samples: readonly ParsedSample[];
  value(name: string, labels?: Record<string, string>): number;
  has(name: string, labels?: Record<string, string>): boolean;
  /** Every series of a family name, with its labels. */
  series(name: string): ParsedSample[];
}

export async function scrape(base: string, path = '/metrics', headers: Record<string, string> = {}): Promise<Scrape> {
  const r = await http(base, path, { headers });
  if (r.status !== 200) throw new Error(`scrape ${base}${path}: ${r.status} ${r.text()}`);
  const text = r.text();
  const samples = parseSamples(text);
  const index = new Map(samples.map((s) => [sampleKey(s.name, s.labels), s.value]));
  return {
    text,
    samples,
    value: (name, labels = {}) => index.get(sampleKey(name, labels)) ?? 0,
    has: (name, labels = {}) => index.has(sampleKey(name, labels)),
    series: (name) => samples.filter((s) => s.name === name),
  };
}

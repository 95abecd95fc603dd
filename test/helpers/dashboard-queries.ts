/**
 * Reading the queries out of a Grafana dashboard JSON, and turning Grafana's variables into
 * plain PromQL so that a real Prometheus can run them.
 */

/** One panel query: where it comes from (`panel title/refId`) and its PromQL. */
export interface PanelQuery {
  readonly where: string;
  readonly panel: string;
  readonly expr: string;
  readonly instant: boolean;
}

/** One templating variable of type `query`, with its query text. */
export interface VariableQuery {
  readonly name: string;
  readonly query: string;
}

interface Panel {
  readonly type: string;
  readonly title: string;
  readonly panels?: readonly Panel[];
  readonly targets?: readonly { readonly refId: string; readonly expr?: string; readonly instant?: boolean }[];
}

/** Every panel except rows, in order, including those nested in collapsed rows. */
export function allPanels(dashboard: { panels: readonly Panel[] }): Panel[] {
  return dashboard.panels.flatMap((p) => (p.type === 'row' ? [...(p.panels ?? [])] : [p]));
}

/** Every target `expr` of every panel. */
export function panelQueries(dashboard: { panels: readonly Panel[] }): PanelQuery[] {
  return allPanels(dashboard).flatMap((p) =>
    (p.targets ?? []).map((t) => ({ where: `${p.title}/${t.refId}`, panel: p.title, expr: t.expr ?? '', instant: t.instant === true })),
  );
}

/** The query of every templating variable of type `query` (string, or Grafana 10's `{query}` object). */
export function variableQueries(dashboard: { templating: { list: readonly { name: string; type: string; query?: unknown }[] } }): VariableQuery[] {
  return dashboard.templating.list
    .filter((v) => v.type === 'query')
    .map((v) => ({ name: v.name, query: typeof v.query === 'string' ? v.query : String((v.query as { query?: unknown } | undefined)?.query ?? '') }));
}

/**
 * Replaces Grafana variables in `text`: `$__rate_interval` by `rateInterval`, `$name` and
 * `${name}` by `values[name]`. A variable left without a value is an error, so a query can never
 * reach Prometheus with a `$` in it.
 */
export function substitute(text: string, values: Readonly<Record<string, string>>, rateInterval = '1m'): string {
  const out = text.replace(/\$__rate_interval\b/g, rateInterval).replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare) as string;
    const value = values[name];
    if (value === undefined) throw new Error(`no value for ${whole} in ${text}`);
    return value;
  });
  return out;
}

/** `label_values(selector, label)` split into its parts; undefined for any other variable query. */
export function parseLabelValues(query: string): { selector: string; label: string } | undefined {
  const m = /^\s*label_values\(\s*(.+?)\s*,\s*(\w+)\s*\)\s*$/s.exec(query);
  return m === null ? undefined : { selector: m[1] as string, label: m[2] as string };
}

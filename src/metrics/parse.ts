/**
 * A parser for the Prometheus text exposition format 0.0.4 (what vLLM, SGLang and every
 * prometheus_client server emit on /metrics). It never throws on bad input: it returns a typed
 * error with the 1-based line number, so a sampler can log it and go on.
 *
 * Families: a sample belongs to the family declared by `# TYPE` whose name it equals, or whose
 * name plus a suffix of that type it is (`_total` / `_created` for counters; `_bucket`, `_sum`,
 * `_count`, `_created` for histograms; `_sum`, `_count`, `_created` for summaries). prometheus_client
 * declares `_created` as its own gauge family; both layouts work. Samples of no declared family
 * form an `untyped` family of their own name.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** the sample's full name, e.g. `vllm:time_to_first_token_seconds_bucket` */
  name: string;
  labels: Record<string, string>;
  value: number;
  /** the optional timestamp, ms since the epoch */
  timestampMs?: number;
}

export interface MetricFamily {
  name: string;
  type: MetricType;
  help?: string;
  samples: Sample[];
}

export interface ParsedPage {
  /** families in page order, keyed by family name */
  families: Map<string, MetricFamily>;
  /** every sample, in page order */
  samples: Sample[];
}

export interface ParseFailure {
  line: number;
  message: string;
  /** the offending line, cut to 200 characters */
  text: string;
}

export type ParseResult = { ok: true; page: ParsedPage } | { ok: false; error: ParseFailure };

const TYPES: ReadonlySet<string> = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES: Record<MetricType, readonly string[]> = {
  counter: ['_total', '_created'],
  histogram: ['_bucket', '_sum', '_count', '_created'],
  summary: ['_sum', '_count', '_created'],
  gauge: [],
  untyped: [],
};

const NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INT_RE = /^-?\d+$/;

function isNameStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 58;
}
function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= 48 && c <= 57);
}
function isLabelStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
}
function isLabelChar(c: number): boolean {
  return isLabelStart(c) || (c >= 48 && c <= 57);
}

/** Go's ParseFloat spellings that exporters use, plus plain decimal numbers. */
export function parseValue(s: string): number | undefined {
  if (NUMBER_RE.test(s)) return Number(s);
  switch (s.toLowerCase()) {
    case 'nan':
      return Number.NaN;
    case '+inf':
    case 'inf':
    case '+infinity':
    case 'infinity':
      return Number.POSITIVE_INFINITY;
    case '-inf':
    case '-infinity':
      return Number.NEGATIVE_INFINITY;
    default:
      return undefined;
  }
}

class LineError {
  constructor(readonly message: string) {}
}

/** Digits with an optional dot and exponent: the common case, checked without a regex. */
function isPlainNumber(s: string): boolean {
  const n = s.length;
  let i = 0;
  const isDigit = (k: number) => {
    const c = s.charCodeAt(k);
    return c >= 48 && c <= 57;
  };
  if (n > 0 && (s.charCodeAt(0) === 43 || s.charCodeAt(0) === 45)) i++;
  let digits = 0;
  while (i < n && isDigit(i)) {
    i++;
    digits++;
  }
  if (i < n && s.charCodeAt(i) === 46) {
    i++;
    while (i < n && isDigit(i)) {
      i++;
      digits++;
    }
  }
  if (digits === 0) return false;
  if (i < n && (s.charCodeAt(i) === 101 || s.charCodeAt(i) === 69)) {
    i++;
    if (i < n && (s.charCodeAt(i) === 43 || s.charCodeAt(i) === 45)) i++;
    const e0 = i;
    while (i < n && isDigit(i)) i++;
    if (i === e0) return false;
  }
  return i === n;
}

function validName(s: string): boolean {
  if (s.length === 0 || !isNameStart(s.charCodeAt(0))) return false;
  for (let i = 1; i < s.length; i++) if (!isNameChar(s.charCodeAt(i))) return false;
  return true;
}

function unescapeHelp(s: string): string {
  if (s.indexOf('\\') === -1) return s;
  return s.replace(/\\([\\n])/g, (_m, c: string) => (c === 'n' ? '\n' : '\\'));
}

/** Parses one sample line; throws LineError (caught by the caller) on malformed text. */
function parseSampleLine(line: string): Sample {
  const n = line.length;
  let i = 0;
  while (i < n && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
  const nameStart = i;
  if (i >= n || !isNameStart(line.charCodeAt(i))) throw new LineError('expected a metric name');
  i++;
  while (i < n && isNameChar(line.charCodeAt(i))) i++;
  const name = line.slice(nameStart, i);
  const labels: Record<string, string> = {};
  let j = i;
  while (j < n && (line.charCodeAt(j) === 32 || line.charCodeAt(j) === 9)) j++;
  if (j < n && line.charCodeAt(j) === 123 /* { */) {
    i = j + 1;
    for (;;) {
      while (i < n && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
      if (i >= n) throw new LineError('unterminated label set (missing "}")');
      if (line.charCodeAt(i) === 125 /* } */) {
        i++;
        break;
      }
      const ls = i;
      if (!isLabelStart(line.charCodeAt(i))) throw new LineError(`bad label name at column ${i + 1}`);
      i++;
      while (i < n && isLabelChar(line.charCodeAt(i))) i++;
      const lname = line.slice(ls, i);
      while (i < n && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
      if (line.charCodeAt(i) !== 61 /* = */) throw new LineError(`expected "=" after label "${lname}"`);
      i++;
      while (i < n && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
      if (line.charCodeAt(i) !== 34 /* " */)
        throw new LineError(`expected a quoted value for label "${lname}"`);
      i++;
      let value = '';
      let chunkStart = i;
      for (;;) {
        if (i >= n) throw new LineError(`unterminated value of label "${lname}"`);
        const c = line.charCodeAt(i);
        if (c === 34) break;
        if (c === 92 /* \ */) {
          value += line.slice(chunkStart, i);
          const e = line.charCodeAt(i + 1);
          if (e === 92) value += '\\';
          else if (e === 34) value += '"';
          else if (e === 110) value += '\n';
          else
            throw new LineError(
              `invalid escape "\\${line[i + 1] ?? ''}" in label "${lname}" (only \\\\, \\" and \\n)`,
            );
          i += 2;
          chunkStart = i;
          continue;
        }
        i++;
      }
      value += line.slice(chunkStart, i);
      i++; // closing quote
      if (Object.hasOwn(labels, lname)) throw new LineError(`label "${lname}" given twice`);
      labels[lname] = value;
      while (i < n && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
      if (i >= n) throw new LineError('unterminated label set (missing "}")');
      const c = line.charCodeAt(i);
      if (c === 44 /* , */) {
        i++;
        continue;
      }
      if (c === 125) {
        i++;
        break;
      }
      throw new LineError(`expected "," or "}" after the value of label "${lname}"`);
    }
  }
  // value and optional timestamp, separated by blanks
  if (i < n && line.charCodeAt(i) !== 32 && line.charCodeAt(i) !== 9)
    throw new LineError(`expected a blank between the series and its value`);
  while (i < n && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
  if (i >= n) throw new LineError(`sample "${name}" has no value`);
  let vEnd = i;
  while (vEnd < n && line.charCodeAt(vEnd) !== 32 && line.charCodeAt(vEnd) !== 9) vEnd++;
  const vText = line.slice(i, vEnd);
  const value = isPlainNumber(vText) ? Number(vText) : parseValue(vText);
  if (value === undefined) throw new LineError(`bad value "${vText}" for "${name}"`);
  const sample: Sample = { name, labels, value };
  i = vEnd;
  while (i < n && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
  if (i < n) {
    let tEnd = i;
    while (tEnd < n && line.charCodeAt(tEnd) !== 32 && line.charCodeAt(tEnd) !== 9) tEnd++;
    const tText = line.slice(i, tEnd);
    let k = tEnd;
    while (k < n && (line.charCodeAt(k) === 32 || line.charCodeAt(k) === 9)) k++;
    if (k < n) throw new LineError(`unexpected text after the value: "${line.slice(tEnd).trim()}"`);
    if (!INT_RE.test(tText)) throw new LineError(`bad timestamp "${tText}" (want integer ms)`);
    sample.timestampMs = Number(tText);
  }
  return sample;
}

/** Parses a whole page. Never throws. */
export function parsePrometheusText(text: string): ParseResult {
  const families = new Map<string, MetricFamily>();
  const samples: Sample[] = [];
  const seenType = new Set<string>();
  let lineNo = 0;
  let pos = 0;
  const len = text.length;
  // the family of the previous sample: most samples continue it, so check it first
  let last: MetricFamily | undefined;
  while (pos <= len) {
    let end = text.indexOf('\n', pos);
    if (end === -1) end = len;
    let line = text.slice(pos, end);
    pos = end + 1;
    lineNo++;
    if (line.length > 0 && line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
    if (line.length === 0) {
      if (end === len) break;
      continue;
    }
    try {
      let first = 0;
      while (first < line.length && (line.charCodeAt(first) === 32 || line.charCodeAt(first) === 9)) first++;
      if (first === line.length) continue;
      if (line.charCodeAt(first) === 35 /* # */) {
        const m = /^#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(line.slice(first));
        if (!m) continue; // a plain comment
        const [, kw, fname, arg] = m as unknown as [string, string, string, string | undefined];
        if (!validName(fname)) throw new LineError(`bad metric name "${fname}" in # ${kw}`);
        let fam = families.get(fname);
        if (kw === 'TYPE') {
          const t = (arg ?? '').trim();
          if (!TYPES.has(t)) throw new LineError(`unknown metric type "${t}" for "${fname}"`);
          if (seenType.has(fname)) throw new LineError(`second TYPE line for "${fname}"`);
          if (fam && fam.samples.length > 0) throw new LineError(`TYPE for "${fname}" after its samples`);
          seenType.add(fname);
          if (fam) fam.type = t as MetricType;
          else {
            fam = { name: fname, type: t as MetricType, samples: [] };
            families.set(fname, fam);
          }
        } else {
          const help = unescapeHelp(arg ?? '');
          if (fam) {
            if (fam.help !== undefined) throw new LineError(`second HELP line for "${fname}"`);
            fam.help = help;
          } else {
            families.set(fname, { name: fname, type: 'untyped', help, samples: [] });
          }
        }
        continue;
      }
      const s = parseSampleLine(line);
      let fam =
        last && (s.name === last.name || belongsTo(s.name, last))
          ? last
          : (families.get(s.name) ?? familyBySuffix(families, s.name));
      if (!fam) {
        fam = { name: s.name, type: 'untyped', samples: [] };
        families.set(s.name, fam);
      }
      if (fam.type === 'histogram' && s.name.length === fam.name.length + 7 && s.name.endsWith('_bucket')) {
        const le = s.labels.le;
        if (le === undefined) throw new LineError(`histogram bucket "${s.name}" without an "le" label`);
        if (!isPlainNumber(le) && parseValue(le) === undefined)
          throw new LineError(`bad "le" value "${le}" in "${s.name}"`);
      }
      if (fam.type === 'summary' && s.name === fam.name) {
        const q = s.labels.quantile;
        if (q === undefined) throw new LineError(`summary sample "${s.name}" without a "quantile" label`);
        if (parseValue(q) === undefined) throw new LineError(`bad "quantile" value "${q}" in "${s.name}"`);
      }
      fam.samples.push(s);
      samples.push(s);
      last = fam;
    } catch (err) {
      if (err instanceof LineError) {
        return { ok: false, error: { line: lineNo, message: err.message, text: line.slice(0, 200) } };
      }
      throw err;
    }
    if (end === len) break;
  }
  return { ok: true, page: { families, samples } };
}

function belongsTo(sampleName: string, fam: MetricFamily): boolean {
  const extra = sampleName.length - fam.name.length;
  if (extra <= 0 || !sampleName.startsWith(fam.name)) return false;
  for (const suf of SUFFIXES[fam.type]) if (suf.length === extra && sampleName.endsWith(suf)) return true;
  return false;
}

function familyBySuffix(families: Map<string, MetricFamily>, name: string): MetricFamily | undefined {
  const us = name.lastIndexOf('_');
  if (us <= 0) return undefined;
  const fam = families.get(name.slice(0, us));
  return fam && belongsTo(name, fam) ? fam : undefined;
}

/** The failure as one line for a person: `/metrics line 12: bad value "x" for "foo"`. */
export function formatParseFailure(f: ParseFailure, source = '/metrics'): string {
  return `${source} line ${f.line}: ${f.message}: ${JSON.stringify(f.text)}`;
}

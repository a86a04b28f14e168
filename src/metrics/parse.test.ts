import { describe, expect, it } from 'vitest';
import { parsePrometheusText, parseValue } from './parse.js';
import { sglangPage, vllmPage } from './testing/pages.js';

function ok(text: string) {
  const r = parsePrometheusText(text);
  if (!r.ok) throw new Error(`unexpected failure: line ${r.error.line}: ${r.error.message}`);
  return r.page;
}

function fail(text: string) {
  const r = parsePrometheusText(text);
  if (r.ok) throw new Error('expected a failure');
  return r.error;
}

describe('parsePrometheusText', () => {
  it('reads a vLLM page with two engines, _total and _created, histograms and escaped labels', () => {
    const page = ok(vllmPage());
    const kv = page.families.get('vllm:kv_cache_usage_perc')!;
    expect(kv.type).toBe('gauge');
    expect(kv.help).toBe('KV-cache usage. 1 means 100 percent usage.');
    expect(kv.samples.map((s) => [s.labels.engine, s.value])).toEqual([
      ['0', 0.25],
      ['1', 0.75],
    ]);
    const pre = page.families.get('vllm:num_preemptions_total')!;
    expect(pre.type).toBe('counter');
    expect(pre.samples.map((s) => s.value)).toEqual([2, 4]);
    expect(page.families.get('vllm:num_preemptions_created')!.type).toBe('gauge');
    const ttft = page.families.get('vllm:time_to_first_token_seconds')!;
    expect(ttft.type).toBe('histogram');
    const e0 = ttft.samples.filter((s) => s.labels.engine === '0');
    expect(e0.filter((s) => s.name.endsWith('_bucket'))).toHaveLength(15);
    expect(e0.find((s) => s.labels.le === '+Inf')!.value).toBe(13);
    expect(e0.find((s) => s.name.endsWith('_count'))!.value).toBe(13);
    expect(e0.find((s) => s.name.endsWith('_sum'))!.value).toBe(0.5);
    const lora = page.families.get('vllm:lora_requests_info')!.samples[0]!;
    expect(lora.labels.waiting_lora_adapters).toBe('a\\b "quoted"\nnext');
    expect(lora.labels.running_lora_adapters).toBe('');
    const summ = page.families.get('http_request_duration_highr_seconds')!;
    expect(summ.type).toBe('summary');
    expect(summ.samples).toHaveLength(4);
    expect(Number.isNaN(summ.samples[1]!.value)).toBe(true);
    expect(page.families.get('python_info')!.samples[0]!.labels.version).toBe('3.12.3');
    expect(page.families.get('process_virtual_memory_bytes')!.samples[0]!.value).toBe(1.2345678e10);
    expect(page.families.get('http_requests_total')!.samples).toHaveLength(2);
  });

  it('reads an SGLang page', () => {
    const page = ok(sglangPage());
    expect(page.families.get('sglang:token_usage')!.samples[0]!.value).toBe(0.28);
    expect(page.families.get('sglang:time_to_first_token_seconds')!.samples).toHaveLength(5);
    expect(page.families.get('sglang:prompt_tokens_total')!.samples[0]!.value).toBe(8128902);
  });

  it('assigns Go-client layouts (TYPE foo counter, sample foo_total) to the family', () => {
    const page = ok(
      [
        '# TYPE foo counter',
        'foo_total{a="1"} 3',
        'foo_created{a="1"} 1700000000',
        '# TYPE h histogram',
        'h_bucket{le="1"} 1',
        'h_bucket{le="+Inf"} 2',
        'h_sum 3',
        'h_count 2',
        'h_created 1700000000',
        'loose_metric 5',
      ].join('\n'),
    );
    expect(page.families.get('foo')!.samples.map((s) => s.name)).toEqual(['foo_total', 'foo_created']);
    expect(page.families.get('h')!.samples).toHaveLength(5);
    expect(page.families.get('loose_metric')!.type).toBe('untyped');
  });

  it('handles timestamps, NaN / +Inf / -Inf, CRLF, blank and comment lines, spacing, trailing commas', () => {
    const page = ok(
      '\r\n# just a comment\r\n\n  a{x="1",} NaN 1700000000000\r\nb +Inf\nc -Inf -5\nd{ x = "y" , z="w" } 1e-3\ne 7',
    );
    const s = page.samples;
    expect(Number.isNaN(s[0]!.value)).toBe(true);
    expect(s[0]!.timestampMs).toBe(1_700_000_000_000);
    expect(s[1]!.value).toBe(Number.POSITIVE_INFINITY);
    expect(s[2]!.value).toBe(Number.NEGATIVE_INFINITY);
    expect(s[2]!.timestampMs).toBe(-5);
    expect(s[3]!.labels).toEqual({ x: 'y', z: 'w' });
    expect(s[3]!.value).toBe(0.001);
    expect(s[4]!.value).toBe(7);
  });

  it('label values may hold braces, commas, equals signs, hashes and spaces', () => {
    const page = ok('m{a="x}y",b="1,2",c="k=v",d="# not a comment",e=" "} 3\n# HELP\n# TYPE\n#\n');
    expect(page.samples[0]!.labels).toEqual({ a: 'x}y', b: '1,2', c: 'k=v', d: '# not a comment', e: ' ' });
  });

  it('unescapes HELP text', () => {
    const page = ok('# HELP m a \\\\ b\\nc\n# TYPE m gauge\nm 1\n');
    expect(page.families.get('m')!.help).toBe('a \\ b\nc');
  });

  it('an empty page is fine', () => {
    expect(ok('').samples).toHaveLength(0);
    expect(ok('\n\n').samples).toHaveLength(0);
  });

  it.each([
    ['m{a="1"', 1, 'unterminated label set'],
    ['ok 1\nm{a="x} 1', 2, 'unterminated value'],
    ['m{a="\\q"} 1', 1, 'invalid escape'],
    ['m{1a="x"} 1', 1, 'bad label name'],
    ['m{a "x"} 1', 1, 'expected "="'],
    ['m{a=x} 1', 1, 'quoted value'],
    ['m{a="1" b="2"} 1', 1, 'expected "," or "}"'],
    ['m{a="1",a="2"} 1', 1, 'given twice'],
    ['m', 1, 'no value'],
    ['m abc', 1, 'bad value "abc"'],
    ['m 1 1.5', 1, 'bad timestamp'],
    ['m 1 2 3', 1, 'unexpected text'],
    ['9m 1', 1, 'expected a metric name'],
    ['# TYPE m gaugey', 1, 'unknown metric type'],
    ['# TYPE m gauge\n# TYPE m counter', 2, 'second TYPE'],
    ['m 1\n# TYPE m gauge', 2, 'after its samples'],
    ['# TYPE h histogram\nh_bucket 1', 2, 'without an "le"'],
    ['# TYPE h histogram\nh_bucket{le="x"} 1', 2, 'bad "le"'],
    ['# TYPE s summary\ns 1', 2, 'without a "quantile"'],
    ['m{a="1"}1', 1, 'expected a blank'],
  ])('rejects %j at line %i (%s)', (text, line, msg) => {
    const e = fail(text);
    expect(e.line).toBe(line);
    expect(e.message).toContain(msg);
  });

  it('parseValue reads Go float spellings', () => {
    expect(parseValue('1.5e+09')).toBe(1.5e9);
    expect(parseValue('-0')).toBe(-0);
    expect(parseValue('.5')).toBe(0.5);
    expect(parseValue('Inf')).toBe(Number.POSITIVE_INFINITY);
    expect(parseValue('0x10')).toBeUndefined();
    expect(parseValue('')).toBeUndefined();
  });

  it('fuzz: random mutations of real pages never throw, only return typed failures', () => {
    // seeded xorshift so a failure is reproducible
    let x = 0x9e3779b9;
    const rnd = () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) / 2 ** 32;
    };
    const alphabet = [
      '{',
      '}',
      '"',
      '\\',
      '\n',
      ' ',
      ',',
      '=',
      '#',
      'e',
      '+',
      '-',
      '.',
      'NaN',
      'Inf',
      '\t',
      '\r',
      'é',
      '\u0000',
    ];
    const seeds = [vllmPage(), sglangPage(), vllmPage(undefined, 'v0')];
    let failures = 0;
    for (let round = 0; round < 1500; round++) {
      let text = seeds[round % seeds.length]!;
      const edits = 1 + Math.floor(rnd() * 5);
      for (let k = 0; k < edits; k++) {
        const at = Math.floor(rnd() * text.length);
        const op = rnd();
        if (op < 0.4)
          text = text.slice(0, at) + alphabet[Math.floor(rnd() * alphabet.length)] + text.slice(at);
        else if (op < 0.7) text = text.slice(0, at) + text.slice(at + 1 + Math.floor(rnd() * 20));
        else if (op < 0.85) text = text.slice(0, at);
        else {
          const from = Math.floor(rnd() * text.length);
          text = text.slice(0, at) + text.slice(from, from + 40) + text.slice(at);
        }
      }
      const r = parsePrometheusText(text);
      if (!r.ok) {
        failures++;
        expect(r.error.line).toBeGreaterThanOrEqual(1);
        expect(r.error.message.length).toBeGreaterThan(0);
      }
    }
    expect(failures).toBeGreaterThan(100);
  });
});

/**
 * parsedMetrics (the KV sampler's read of an in-process engine) gives exactly what parsing the
 * rendered /metrics text gives: the same families, samples, labels and values, page after page,
 * as the engine's state and the page's shape (pins, extra fields, faults) change.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ServersSpec, serversSchema } from '../../config/spec.js';
import { launch } from '../../launch/registry.js';
import { parsePrometheusText, type Sample } from '../../metrics/parse.js';
import { VirtualClock } from '../clock.js';
import { createEngine } from '../engine.js';
import { SimService } from '../service.js';
import { engineOptionsOf } from './index.js';
import { parsedMetrics, renderMetrics } from './metrics-page.js';

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';

/** the parse of the text, as plain data (Maps as entry lists, -0 spelled out: toEqual takes it for 0), for toEqual */
const plain = (r: ReturnType<typeof parsePrometheusText>) => {
  if (!r.ok) return r;
  const v = (s: Sample) => ({ ...s, value: Object.is(s.value, -0) ? '-0' : s.value });
  return {
    families: [...r.page.families.entries()].map(([k, f]) => [k, { ...f, samples: f.samples.map(v) }]),
    samples: r.page.samples.map(v),
  };
};

describe('parsedMetrics: the page without its text', () => {
  it('in virtual time (continuum pins, extra fields, faults): every page equals the parse of its text', async () => {
    const spec = serversSchema.parse({
      kind: 'sim',
      topology: {
        servers: [
          {
            model: MODEL,
            port: 1900,
            scheduling_policy: 'continuum',
            continuum: { parser: 'hermes', ttl_s: 5 },
          },
        ],
      },
      overrides: { stepTimeMs: 5, maxModelLen: 4096 },
    }) as Extract<ServersSpec, { kind: 'sim' }>;
    const s = await launch('sim-virtual', spec, {
      baseDir: process.cwd(),
      logsDir: mkdtempSync(join(tmpdir(), 'servelab-page-')),
      env: {},
      seed: 1,
    });
    const ep = s.endpoints.get(MODEL)?.[0];
    const page = s.fetchText.page;
    if (!ep || !s.virtual || !page) throw new Error('no endpoint or no parsed-page read');
    const url = `${s.servers[0]!.url}/metrics`;
    let compared = 0;
    const same = async () => {
      const text = await s.fetchText(url, { timeoutMs: 1000 });
      const parsed = await page(url, { timeoutMs: 1000 });
      if (!text.ok || !parsed.ok) throw new Error('page not served');
      expect(plain(parsed.page)).toEqual(plain(parsePrometheusText(text.text)));
      compared++;
    };
    await same();
    const call = (i: number, extra: Record<string, unknown>, headers?: Record<string, string>) =>
      s.transport(1).call({
        endpoint: ep,
        api: 'chat',
        messages: [{ role: 'user', content: `look it up, number ${i}` }],
        tools: [{ type: 'function', function: { name: 'search', parameters: { type: 'object' } } }],
        stream: true,
        ...(headers ? { extraHeaders: headers } : {}),
        extraBody: {
          job_id: `p${i % 3}`,
          is_last_step: i % 4 === 3,
          servelab_directive: { tool_calls: [{ name: 'search', arguments: {} }] },
          ...extra,
        },
      });
    const work = (async () => {
      for (let i = 0; i < 12; i++) {
        // new extra fields (with quotes, a backslash) and faults change the page's shape mid-run
        const extra: Record<string, unknown> = i >= 4 ? { 'odd"field\\x': i } : {};
        if (i >= 8) extra[`field_${i}`] = true;
        await Promise.all([
          call(i, extra, i === 6 ? { 'x-servelab-fault': 'slow_first_token;50' } : undefined),
          call(i + 100, {}),
          same(),
        ]);
        await same();
      }
    })();
    await s.virtual.drive(work);
    expect(compared).toBe(25);
    const last = await page(url, { timeoutMs: 1000 });
    // the pages compared had the continuum pins, the extra fields and the injected fault
    const names = last.ok && last.page.ok ? [...last.page.page.families.keys()] : [];
    expect(names).toEqual(
      expect.arrayContaining([
        'servelab:kv_pins_created_total',
        'servelab_sim_extra_fields_total',
        'servelab_sim_faults_injected_total',
      ]),
    );
    if (last.ok && last.page.ok)
      expect(last.page.page.families.get('servelab_sim_extra_fields_total')!.samples.length).toBeGreaterThan(
        2,
      );
    await s.stop();
  });

  it('v0 names and values the text spells oddly (-0, NaN, infinities, 1e21: a page no parser reads)', () => {
    const clock = new VirtualClock(0);
    const engine = createEngine(engineOptionsOf({ model: MODEL, maxModelLen: 4096 }), clock);
    const svc = new SimService({ engine, clock, modelName: 'm "quoted"', persona: 'plain', seed: 1 });
    const check = () => {
      for (const names of ['v0', 'v1'] as const)
        expect(plain(parsedMetrics(svc, names))).toEqual(
          plain(parsePrometheusText(renderMetrics(svc, names))),
        );
    };
    check();
    check(); // the second page from the first one's parse
    const odd = ['neg_zero', 'nan', 'inf', 'minus_inf', 'huge'];
    for (const k of odd) svc.metrics.extraFields.set(k, 1);
    check(); // a new shape: parsed from its text
    // the same shape, values the text spells oddly: from the template
    svc.metrics.extraFields.set('neg_zero', -0);
    svc.metrics.extraFields.set('nan', Number.NaN);
    svc.metrics.extraFields.set('inf', Number.POSITIVE_INFINITY);
    svc.metrics.extraFields.set('minus_inf', Number.NEGATIVE_INFINITY);
    svc.metrics.extraFields.set('huge', 0.1 + 0.2);
    check();
    svc.metrics.extraFields.set('huge', 1e21);
    const r = parsedMetrics(svc, 'v1');
    expect(r.ok).toBe(false);
    check();
    svc.metrics.extraFields.set('huge', 1e20);
    check();
    check();
  });
});

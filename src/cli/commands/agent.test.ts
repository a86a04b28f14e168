import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type SimServers, startSimServers } from '../../sim/server/index.js';
import { runMain } from '../main.js';

let sim: SimServers | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('servelab agent', () => {
  it("runs tasks against the endpoints of a users' model-config JSON (string ports)", async () => {
    sim = await startSimServers({
      seed: 2,
      servers: [
        { model: '/ckpt/Nemotron-Orchestrator-8B', persona: 'orchestrator', port: 0, stepTimeMs: 1 },
        { model: 'openai/gpt-oss-20b', persona: 'gpt-oss', port: 0, stepTimeMs: 0.5 },
      ],
    });
    const dir = mkdtempSync(join(tmpdir(), 'servelab-agent-'));
    const cfg: Record<string, unknown> = {};
    for (const e of sim.endpoints) cfg[e.model] = [{ ip_addr: '127.0.0.1', port: String(e.port) }];
    cfg.oss_expert_mapping = { 'expert-1': 'openai/gpt-oss-20b' };
    cfg.vllm_model_config_path = join(dir, 'model_config.json');
    writeFileSync(join(dir, 'model_config.json'), JSON.stringify(cfg));
    const out: string[] = [];
    const code = await runMain(
      [
        'agent',
        '--model-config',
        'model_config.json',
        '--tasks',
        '3',
        '-c',
        '2',
        '--time-scale',
        '0.01',
        // airline tasks have up to 7 scripted user turns x up to 6 tool steps: 30 is reachable
        '--max-steps',
        '100',
      ],
      {
        stdout: (t) => out.push(t),
        stderr: () => {},
        isTTY: false,
        env: {},
        cwd: dir,
        signal: new AbortController().signal,
      },
    );
    expect(code).toBe(0);
    expect(out.join('')).toMatch(/agent\s+2\s+1\s+3\/3/);
    const runDir = readdirSync(join(dir, 'runs'))[0] as string;
    const tasks = readFileSync(join(dir, 'runs', runDir, 'agent/c2/r1/tasks.jsonl'), 'utf8')
      .trim()
      .split('\n');
    expect(tasks).toHaveLength(3);
  }, 20_000);
});

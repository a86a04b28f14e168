/**
 * scripts/ci-deps.sh with a fake `apt-get` and `id` on PATH (nothing of the real system is
 * touched: policy-rc.d goes to a temporary path through SERVELAB_POLICY_RC_D). The fake apt-get
 * logs its arguments and whether policy-rc.d existed when it ran, and plays a scripted part:
 * lock failures, a failing install, a hang.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SCRIPT = resolve(import.meta.dirname, '..', 'scripts', 'ci-deps.sh');
const TOOLS = ['grep', 'sleep', 'rm', 'chmod', 'cat'];

interface Fake {
  dir: string;
  policy: string;
  log: string;
  env: NodeJS.ProcessEnv;
}

/**
 * A PATH with only the tools the script needs, no chromium, prometheus or SLURM (so all are
 * "missing"), `id -u` answering 0, and an apt-get whose behaviour is given as bash.
 */
function fake(aptBody: string): Fake {
  const dir = mkdtempSync(join(tmpdir(), 'servelab-ci-deps-'));
  const bin = join(dir, 'bin');
  const policy = join(dir, 'policy-rc.d');
  const log = join(dir, 'apt.log');
  writeFileSync(join(dir, 'n'), '0');
  mkdirSync(bin);
  for (const t of TOOLS) symlinkSync(`/usr/bin/${t}`, join(bin, t));
  writeFileSync(join(bin, 'id'), '#!/bin/bash\necho 0\n');
  writeFileSync(
    join(bin, 'apt-get'),
    [
      '#!/bin/bash',
      `log=${JSON.stringify(log)}; policy=${JSON.stringify(policy)}; counter=${JSON.stringify(join(dir, 'n'))}`,
      'n=$(($(cat "$counter") + 1)); echo "$n" > "$counter"',
      'if [ -e "$policy" ]; then p=policy; else p=nopolicy; fi',
      'echo "$n $p $*" >> "$log"',
      aptBody,
      '',
    ].join('\n'),
  );
  chmodSync(join(bin, 'id'), 0o755);
  chmodSync(join(bin, 'apt-get'), 0o755);
  return {
    dir,
    policy,
    log,
    env: { PATH: bin, SERVELAB_POLICY_RC_D: policy, SERVELAB_APT_LOCK_TIMEOUT: '20', HOME: dir },
  };
}

function run(f: Fake): { child: ChildProcess; done: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn('/usr/bin/bash', [SCRIPT], {
    env: f.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const done = new Promise<{ code: number | null; stderr: string }>((res) =>
    child.on('close', (code) => res({ code, stderr })),
  );
  return { child, done };
}

const calls = (f: Fake) => readFileSync(f.log, 'utf8').trim().split('\n');

describe('scripts/ci-deps.sh with a fake apt-get', () => {
  it('waits out lock failures of apt-get update, passes DPkg::Lock::Timeout, removes its policy-rc.d', async () => {
    const f = fake(
      [
        // the first two updates find the lists lock held, as when another apt-get runs
        'if [[ " $* " == *" update "* ]] && [ "$n" -le 2 ]; then',
        '  echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)" >&2',
        '  echo "E: Unable to lock directory /var/lib/apt/lists/" >&2',
        '  exit 100',
        'fi',
        'exit 0',
      ].join('\n'),
    );
    const r = await run(f).done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/another apt process holds a lock \(apt-get update\); waiting up to 20 s/);
    const c = calls(f);
    expect(c).toEqual([
      '1 policy -o DPkg::Lock::Timeout=20 update -qq',
      '2 policy -o DPkg::Lock::Timeout=20 update -qq',
      '3 policy -o DPkg::Lock::Timeout=20 update -qq',
      '4 policy -o DPkg::Lock::Timeout=20 install -y -qq --no-install-recommends chromium prometheus slurmctld slurmd slurm-client munge',
    ]);
    expect(existsSync(f.policy)).toBe(false);
  });

  it('a failing install fails the script, shows apt-get output, and leaves no policy-rc.d behind', async () => {
    const f = fake(
      [
        'if [[ " $* " == *" install "* ]]; then echo "E: Unable to locate package chromium" >&2; exit 100; fi',
        'exit 0',
      ].join('\n'),
    );
    const r = await run(f).done;
    expect(r.code).toBe(100);
    expect(r.stderr).toMatch(/E: Unable to locate package chromium/);
    expect(r.stderr).toMatch(/apt-get install failed \(exit 100\)/);
    expect(calls(f).map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual(['1 policy', '2 policy']);
    expect(existsSync(f.policy)).toBe(false);
  });

  it("a lock held past the deadline fails with apt-get's message, policy-rc.d removed", async () => {
    const f = fake(
      'echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 7 (apt)" >&2; exit 100',
    );
    f.env.SERVELAB_APT_LOCK_TIMEOUT = '1';
    const r = await run(f).done;
    expect(r.code).toBe(100);
    expect(r.stderr).toMatch(/Could not get lock \/var\/lib\/dpkg\/lock-frontend/);
    expect(existsSync(f.policy)).toBe(false);
  });

  it('a policy-rc.d that was there before is neither replaced nor removed', async () => {
    const f = fake('exit 100');
    writeFileSync(f.policy, "#!/bin/sh\n# the admin's own\nexit 0\n");
    const r = await run(f).done;
    expect(r.code).toBe(100);
    expect(readFileSync(f.policy, 'utf8')).toBe("#!/bin/sh\n# the admin's own\nexit 0\n");
  });

  it('interrupted during install (Ctrl-C reaches the process group): policy-rc.d removed', async () => {
    const f = fake('if [[ " $* " == *" install "* ]]; then sleep 60; fi; exit 0');
    const { child, done } = run(f);
    // wait until the fake install is running
    const deadline = Date.now() + 20_000;
    while (!(existsSync(f.log) && readFileSync(f.log, 'utf8').includes('install'))) {
      if (Date.now() > deadline) throw new Error('the fake install never started');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(existsSync(f.policy)).toBe(true);
    process.kill(-child.pid!, 'SIGINT');
    const r = await done;
    expect(r.code).not.toBe(0);
    expect(existsSync(f.policy)).toBe(false);
  });
});

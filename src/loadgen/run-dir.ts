import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { SecretRegistry } from '../config/secrets.js';
import { SERVELAB_VERSION } from '../version.js';
import type { RequestRecord } from './records.js';

/** `bench-20261122T081500Z`: UTC, sortable, no characters that shells or Windows dislike. */
export function benchRunName(d: Date): string {
  return `bench-${d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}`;
}

const SECRET_RE = /auth|key|token|secret|password|cookie/i;

/** argv with secret-looking header values and --api-key values replaced by "<redacted>". */
export function redactArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k]!;
    const prev = argv[k - 1];
    if (prev === '--header' || prev === '-H') {
      const eq = a.indexOf('=');
      const colon = a.indexOf(':');
      const cut = eq === -1 ? colon : colon === -1 ? eq : Math.min(eq, colon);
      out.push(cut > 0 && SECRET_RE.test(a.slice(0, cut)) ? `${a.slice(0, cut + 1)}<redacted>` : a);
    } else if (prev === '--api-key') out.push('<redacted>');
    else out.push(a.replace(/^(--api-key=).*/, '$1<redacted>'));
  }
  return out;
}

/**
 * The bench run directory of docs/FORMATS.md: run.json at the start, requests.jsonl appended
 * with one synchronous write per finished request (a crash loses nothing written), summary.json
 * at the end. Every line and file is scrubbed of the registered secrets (a server's error
 * message may echo the Authorization header).
 */
export class BenchRunDir {
  readonly dir: string;
  private fd: number | undefined;
  private readonly secrets: SecretRegistry;

  constructor(
    dir: string,
    name: string,
    args: readonly string[],
    createdAt: Date,
    secrets: SecretRegistry = new SecretRegistry(),
  ) {
    this.dir = dir;
    this.secrets = secrets;
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'run.json'),
      `${this.stringify(
        {
          v: 1,
          kind: 'bench',
          name,
          createdAt: createdAt.toISOString(),
          servelabVersion: SERVELAB_VERSION,
          args: redactArgs(args),
        },
        null,
        2,
      )}\n`,
    );
    this.fd = openSync(join(dir, 'requests.jsonl'), 'a');
  }

  append(r: RequestRecord): void {
    if (this.fd !== undefined) writeSync(this.fd, `${this.stringify(r)}\n`);
  }

  writeJson(file: string, data: unknown): void {
    writeFileSync(join(this.dir, file), `${this.stringify(data, null, 2)}\n`);
  }

  private stringify(data: unknown, replacer?: null, space?: number): string {
    return this.secrets.scrub(JSON.stringify(data, replacer, space));
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

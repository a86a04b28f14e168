/**
 * An append-only JSONL writer: the file is opened once and every record is written with one
 * synchronous write, so a completed record is in the kernel before the next line of code runs
 * and survives Ctrl-C or a crash of the process.
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';

export class JsonlWriter {
  private fd: number | undefined;
  count = 0;

  /** `scrub` rewrites each line before it is written (servelab's secrets out of server text) */
  constructor(
    readonly path: string,
    private readonly scrub: (line: string) => string = (l) => l,
  ) {
    this.fd = openSync(path, 'a');
  }

  write(record: unknown): void {
    if (this.fd === undefined) throw new Error(`${this.path} is closed`);
    writeSync(this.fd, `${this.scrub(JSON.stringify(record))}\n`);
    this.count++;
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      fsyncSync(this.fd);
    } catch {
      // fsync is best effort (some filesystems refuse it); the data is already written
    }
    closeSync(this.fd);
    this.fd = undefined;
  }
}

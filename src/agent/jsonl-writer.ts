/**
 * An append-only JSONL writer: the file is opened once and every record is written with one
 * synchronous write, so a completed record is in the kernel before the next line of code runs
 * and survives Ctrl-C or a crash of the process.
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';

export class JsonlWriter {
  private fd: number | undefined;
  count = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'a');
  }

  write(record: unknown): void {
    if (this.fd === undefined) throw new Error(`${this.path} is closed`);
    writeSync(this.fd, `${JSON.stringify(record)}\n`);
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

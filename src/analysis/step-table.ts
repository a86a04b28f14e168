import type { CallKind, NextAction, StepRecord } from '../agent/records.js';

/**
 * Step records in columns. A million objects cost hundreds of MB; the few fields analysis
 * needs fit in typed arrays (~60 bytes a step). Built from records (tests, callers holding
 * records) or row by row by the streaming loader.
 */
export const KIND_CODES: readonly CallKind[] = ['orchestrator', 'expert', 'user'];
export const STATUS_CODES = ['ok', 'error', 'incomplete'] as const;
export const NEXT_CODES: readonly (NextAction['type'] | 'none')[] = ['none', 'tool', 'expert', 'user', 'end'];

export interface StepTable {
  n: number;
  /** index into KIND_CODES */
  kind: Uint8Array;
  /** index into STATUS_CODES */
  status: Uint8Array;
  /** index into NEXT_CODES */
  nextType: Uint8Array;
  retries: Uint32Array;
  sentMs: Float64Array;
  /** NaN when the call had no first token (non-streamed or failed) */
  firstTokenMs: Float64Array;
  endMs: Float64Array;
  /** NaN when absent */
  nextDurationMs: Float64Array;
  /** ms the call waited at a program-aware router; 0 when it did not (or there is none) */
  routerQueueMs: Float64Array;
  /** index into programIds */
  program: Uint32Array;
  programIds: string[];
  /** index into errorKinds; 0 = none */
  errorKind: Uint8Array;
  errorKinds: string[];
}

/** The fields of a step record analysis reads. */
export type StepFields = Pick<StepRecord, 'kind' | 'status' | 'sentMs' | 'endMs' | 'programId'> &
  Partial<Pick<StepRecord, 'firstTokenMs' | 'retries' | 'errorKind' | 'next' | 'routerQueueMs'>>;

export class StepTableBuilder {
  private cap: number;
  private t: StepTable;
  private programIndex = new Map<string, number>();
  private errorIndex = new Map<string, number>([['', 0]]);

  constructor(initialCapacity = 1024) {
    this.cap = Math.max(16, initialCapacity);
    this.t = alloc(this.cap);
  }

  add(r: StepFields): void {
    if (this.t.n === this.cap) this.grow();
    const t = this.t;
    const i = t.n++;
    const k = KIND_CODES.indexOf(r.kind);
    t.kind[i] = Math.max(k, 0);
    const s = STATUS_CODES.indexOf(r.status);
    t.status[i] = s < 0 ? 1 : s;
    const nt = r.next ? NEXT_CODES.indexOf(r.next.type) : 0;
    t.nextType[i] = Math.max(nt, 0);
    t.nextDurationMs[i] = typeof r.next?.durationMs === 'number' ? r.next.durationMs : Number.NaN;
    t.retries[i] = r.retries ?? 0;
    t.routerQueueMs[i] = typeof r.routerQueueMs === 'number' ? r.routerQueueMs : 0;
    t.sentMs[i] = r.sentMs;
    t.firstTokenMs[i] = typeof r.firstTokenMs === 'number' ? r.firstTokenMs : Number.NaN;
    t.endMs[i] = r.endMs;
    let p = this.programIndex.get(r.programId);
    if (p === undefined) {
      p = t.programIds.length;
      t.programIds.push(r.programId);
      this.programIndex.set(r.programId, p);
    }
    t.program[i] = p;
    const ek = r.errorKind ?? '';
    let e = this.errorIndex.get(ek);
    if (e === undefined) {
      e = t.errorKinds.length;
      t.errorKinds.push(ek);
      this.errorIndex.set(ek, e);
    }
    t.errorKind[i] = Math.min(e, 255);
  }

  build(): StepTable {
    return this.t;
  }

  private grow(): void {
    const next = alloc(this.cap * 2);
    const o = this.t;
    next.kind.set(o.kind);
    next.status.set(o.status);
    next.nextType.set(o.nextType);
    next.retries.set(o.retries);
    next.sentMs.set(o.sentMs);
    next.firstTokenMs.set(o.firstTokenMs);
    next.endMs.set(o.endMs);
    next.nextDurationMs.set(o.nextDurationMs);
    next.routerQueueMs.set(o.routerQueueMs);
    next.program.set(o.program);
    next.errorKind.set(o.errorKind);
    next.n = o.n;
    next.programIds = o.programIds;
    next.errorKinds = o.errorKinds;
    this.cap *= 2;
    this.t = next;
  }
}

function alloc(cap: number): StepTable {
  return {
    n: 0,
    kind: new Uint8Array(cap),
    status: new Uint8Array(cap),
    nextType: new Uint8Array(cap),
    retries: new Uint32Array(cap),
    sentMs: new Float64Array(cap),
    firstTokenMs: new Float64Array(cap),
    endMs: new Float64Array(cap),
    nextDurationMs: new Float64Array(cap),
    routerQueueMs: new Float64Array(cap),
    program: new Uint32Array(cap),
    programIds: [],
    errorKind: new Uint8Array(cap),
    errorKinds: [''],
  };
}

export function stepTableFromRecords(records: readonly StepRecord[]): StepTable {
  const b = new StepTableBuilder(records.length);
  for (const r of records) b.add(r);
  return b.build();
}

/**
 * What a launcher gives the cell runner, whatever the kind of server: endpoints per served
 * model, a Transport factory, the clock the programs run on, a metrics page per server, and
 * stop(). One launcher per kind (launch/registry.ts); the runner never asks which kind it got.
 */
import type { AgentClock } from '../agent/clock.js';
import type { Endpoint, Transport } from '../loadgen/transport.js';
import type { FetchText } from '../metrics/fetch.js';
import type { ExecFileFn } from '../preflight/gpu.js';
import type { StartSimOptions } from '../sim/server/index.js';

/**
 * Launchers by what they start: `kind: sim` is sim-http in real time, sim-virtual in virtual time;
 * `slurm` (a spec's `launcher: {kind: slurm}`): the whole cell runs as a SLURM job
 * (launch/slurm-launcher.ts runs it for the cell runner).
 */
export const LAUNCHER_KINDS = ['sim-http', 'sim-virtual', 'command', 'external', 'slurm'] as const;
export type LauncherKind = (typeof LAUNCHER_KINDS)[number];

export interface ServerInfo {
  label: string;
  url: string;
  model: string;
  port: number;
  flags?: string[] | Record<string, unknown>;
  log?: string;
}

export type CellTransport = Transport & { close?: () => Promise<void> };

export interface LaunchedServers {
  launcher: LauncherKind;
  endpoints: Map<string, Endpoint[]>;
  experts: Record<string, string>;
  servers: ServerInfo[];
  /** the clock of the cell's programs, retries, timers and samples */
  clock: AgentClock;
  /** the transport of a cell at concurrency C */
  transport(concurrency: number): CellTransport;
  /** GET of a server's page (`<origin>/metrics`, `/version`), over HTTP or in-process */
  fetchText: FetchText;
  /**
   * In-process servers on a virtual clock: the cell's work runs inside `drive` (which advances
   * the clock whenever every program waits), and nothing is probed over HTTP.
   */
  virtual?: {
    drive<T>(work: Promise<T>): Promise<T>;
    /** what the run directory says about the simulation (engine and policy settings) */
    describe: Record<string, unknown>;
  };
  /**
   * An in-process program-aware router (virtual time): POST /programs/release without HTTP. Absent:
   * the arm's `release` goes over HTTP (or, in virtual time, is not sent).
   */
  release?(programId: string): Promise<void>;
  /** the servers the KV sampler reads when the spec names no ports (behind a router: its engines) */
  kvTargets?: { url: string; port: number; label: string }[];
  /** the simulator's own counters are on its /metrics (extra fields, real-time lag) */
  simulated: boolean;
  stop(): Promise<void>;
}

export interface LaunchContext {
  /** the spec's name of these servers (servers.<name>), for hints */
  name?: string;
  /** sim over HTTP: the topology's ports even where the spec says freePorts (--w1-ports) */
  topologyPorts?: boolean;
  baseDir: string;
  logsDir: string;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  seed: number;
  /** test hook: extra options for startSimServers (e.g. a toy engine) */
  simOverrides?: Partial<StartSimOptions>;
  /** test hook: how nvidia-smi is run before command servers are launched */
  execFile?: ExecFileFn;
  /** test hook: the HTTP transport (default createHttpTransport) */
  httpTransport?: (concurrency: number) => CellTransport;
  onNote?: (n: string) => void;
}

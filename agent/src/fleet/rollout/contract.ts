/**
 * The fleet rollout contract: the executor (runRollout), the health gate, the progress/report side and
 * the lab tests meet here. Fields may be added, never renamed.
 */
import type { FleetHost, FleetPlatform, HostTrust, RemoteConnector, RemoteHost } from '../types.ts';
import type { RolloutPolicy } from '../batches.ts';

export interface PackageRef { version: string; file: string; sha256: string }

/** One health sample of a host (fhealth: health.ts takes it over SSH; judge() compares). */
export interface HealthSample {
  atMs: number;
  /** `conegate status --json` answered over the control socket */
  agentAnswering: boolean;
  /** what the running agent says */
  version?: string;
  /** mesh peers known / with a live path (direct or relay) */
  peersTotal: number;
  peersUp: number;
  /** 0..1 of peers up that are direct */
  directShare: number;
  /** NAT-PMP/PCP server answering, null when not enabled on the host */
  mappingServer: boolean | null;
  rssMB: number | null;
}

export interface HealthVerdict { ok: boolean; reasons: string[] }

export interface HealthGate {
  /** `host` (optional) for per-host variables such as conegate_bin. */
  sample(remote: RemoteHost, platform: FleetPlatform, host?: FleetHost): Promise<HealthSample>;
  /** baseline taken before the change (undefined on a first install); samples over the settle time */
  /** `expectVersion`: the version the change installs (an agent still on another one fails). */
  judge(baseline: HealthSample | undefined, after: HealthSample[], expectVersion?: string): HealthVerdict;
  /** how long to sample after the change, and how often */
  settleMs: number;
  intervalMs: number;
}

export type HostStep = 'connect' | 'probe' | 'plan' | 'baseline' | 'upload' | 'apply' | 'health' | 'confirm' | 'revert';
export type HostOutcome = 'unchanged' | 'changed' | 'checked' | 'failed' | 'reverted' | 'skipped';

export interface HostResult {
  host: string;
  platform?: FleetPlatform;
  action?: string;
  outcome: HostOutcome;
  fromVersion?: string;
  toVersion?: string;
  changes: string[];
  configDiff?: string;
  error?: { code: string; message: string };
  health?: HealthVerdict;
  durationMs: number;
  /** sha256 of the package the host ran before (from its fleet state file), for rollback. */
  fromPackageHash?: string;
}

export type RolloutEvent =
  | { type: 'run-start'; runId: string; hosts: string[]; batches: string[][]; check: boolean }
  | { type: 'batch-start'; index: number; hosts: string[] }
  | { type: 'host-step'; host: string; step: HostStep; detail?: string }
  | { type: 'host-done'; result: HostResult }
  | { type: 'batch-done'; index: number; failed: number; size: number; stop: boolean; why?: string }
  | { type: 'run-done'; runId: string; ok: boolean; results: HostResult[]; stoppedEarly: boolean };

export interface RolloutOptions {
  /** already filtered by --limit, inventory order */
  hosts: FleetHost[];
  /** --serial / --forks / --max-fail-percentage */
  policy: RolloutPolicy;
  trust: (host: FleetHost) => HostTrust;
  connect: RemoteConnector;
  packages: Partial<Record<FleetPlatform, PackageRef>>;
  baseConfig: Record<string, unknown>;
  check: boolean;
  diff: boolean;
  /** device-side timer, default 120 */
  revertAfterSec: number;
  health: HealthGate;
  /** written atomically after every host-done */
  runStateFile?: string;
  /** fake root prefix for the twin/lab ('' on real hosts) */
  root?: string;
  onEvent(e: RolloutEvent): void;
  signal?: AbortSignal;
  /** The run's id (fleet resume keeps the first run's); default: time + random. */
  runId?: string;
  /** What the CLI needs to resume or roll back the run, stored as-is in the run state file. */
  runStateOptions?: Record<string, unknown>;
  /** Results of an earlier run of the same state file (resume): kept in the state file, not redone. */
  priorResults?: HostResult[];
  /** Injected for tests; default: real time. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  nowMs?: () => number;
  /** Per remote command (probe, upload steps, confirm); @default 60000. The apply script gets 5x. */
  commandTimeoutMs?: number;
}

/** What runRollout resolves to: the run-done event's content. */
export interface RolloutResult {
  runId: string;
  ok: boolean;
  results: HostResult[];
  stoppedEarly: boolean;
}

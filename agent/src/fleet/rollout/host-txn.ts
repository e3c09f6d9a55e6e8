/**
 * ONE host, ONE transaction: connect (host key verified through opts.trust), probe, plan; `unchanged`
 * or --check end there (nothing written, not even a directory); else baseline health sample, upload
 * to staged names, apply behind the device-side confirm-or-revert timer (device-txn.ts), health
 * samples for the settle time, judge; ok -> confirm over a NEW connection, not ok -> revert at once.
 * The apply runs detached from the session (detached-apply.ts): a session that drops meanwhile (one
 * carried by the mesh being upgraded) is opened again and the apply's end read. A connection that
 * stays lost after apply is left to the host's timer, which restores the previous files by itself.
 * Every failure ends as a HostResult; nothing here throws.
 */
import { ConegateError, isConegateError } from '../../errors.ts';
import { applyScript, confirmScript, PREV_CONFIG_EXIT, previousConfigScript, revertNowScript, TXN_EXIT, type TxnPlan } from '../device-txn.ts';
import { probeHost } from '../facts.ts';
import { PLATFORM_LAYOUT, planHost, platformFor, sha256Hex, type HostPlan } from '../plan.ts';
import { renderHostConfig } from '../render.ts';
import type { FleetHost, FleetPlatform, RemoteHost } from '../types.ts';
import type { HealthSample, HostResult, HostStep, PackageRef, RolloutOptions } from './contract.ts';
import { PLATFORM_ADAPTERS } from './platforms.ts';
import { checkRemotePath } from '../ssh-upload.ts';
import { cleanupStaged, ensureDirs, stagedName, uploadStaged, type StagedUpload } from './stage.ts';
import { applyDetached } from './detached-apply.ts';

export interface HostRun {
  opts: RolloutOptions;
  /** Safe characters only: staged names and the lock owner carry it. */
  runId: string;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  nowMs: () => number;
  timeoutMs: number;
}

const closeQuietly = (r: RemoteHost | undefined) => r?.close().catch(() => {});

function errorOf(err: unknown): { code: string; message: string } {
  if (isConegateError(err)) return { code: err.code, message: err.message };
  return { code: 'CG_INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

export async function runHost(host: FleetHost, run: HostRun): Promise<HostResult> {
  const t0 = run.nowMs();
  const res: HostResult = { host: host.name, outcome: 'failed', changes: [], durationMs: 0 };
  let remote: RemoteHost | undefined;
  try {
    await hostTxn(host, run, res, (r) => (remote = r));
  } catch (err) {
    res.outcome = 'failed';
    res.error = errorOf(err);
  } finally {
    await closeQuietly(remote);
  }
  res.durationMs = run.nowMs() - t0;
  return res;
}

/**
 * The host's root prefix: its `conegate_root` variable (a fake device root: the lab gives each fake
 * router its own), else opts.root, else '' (a real host).
 */
export function rootFor(host: FleetHost, opts: RolloutOptions): string {
  const v = host.vars.conegate_root ?? opts.root ?? '';
  if (v === '') return '';
  if (typeof v !== 'string') throw new ConegateError('CG_CONFIG_INVALID', `${host.name}: conegate_root must be a path`);
  checkRemotePath(v);
  return v;
}

/** A new session to the host, its key checked as opts.trust says (first contact, reconnects, confirm). */
function connectHost(run: HostRun, host: FleetHost): Promise<RemoteHost> {
  return run.opts.connect(host, run.opts.trust(host));
}

function step(run: HostRun, host: FleetHost, s: HostStep, detail?: string): void {
  run.opts.onEvent({ type: 'host-step', host: host.name, step: s, ...(detail ? { detail } : {}) });
}

async function hostTxn(host: FleetHost, run: HostRun, res: HostResult, keep: (r: RemoteHost) => void): Promise<void> {
  const { opts } = run;
  const root = rootFor(host, opts);
  step(run, host, 'connect');
  const remote = await connectHost(run, host);
  keep(remote);
  step(run, host, 'probe');
  const probe = await probeHost(remote, run.timeoutMs, root);
  step(run, host, 'plan');
  const restored = opts.restoreConfigOf ? await previousConfig(remote, host, probe, root, opts.restoreConfigOf, run.timeoutMs) : undefined;
  const { plan, pkg, config } = planFor(host, probe, opts, restored);
  Object.assign(res, {
    platform: plan.platform, action: plan.action, changes: plan.changes, toVersion: pkg.version,
    ...(probe.facts.version ? { fromVersion: probe.facts.version } : {}),
    ...(probe.facts.packageHash ? { fromPackageHash: probe.facts.packageHash } : {}),
    ...(opts.diff && plan.configDiff ? { configDiff: plan.configDiff } : {}),
  });
  if (opts.check) return void (res.outcome = 'checked');
  if (plan.action === 'unchanged') return void (res.outcome = 'unchanged');
  if (opts.signal?.aborted) return void (res.outcome = 'skipped');
  let baseline: HealthSample | undefined;
  if (probe.facts.version) {
    step(run, host, 'baseline');
    baseline = await opts.health.sample(remote, plan.platform, host).catch(() => undefined);
  }
  step(run, host, 'upload');
  const txn = await stageChange(remote, host, plan, pkg, config, run);
  step(run, host, 'apply');
  let applied: { code: number; stderr: string; remote: RemoteHost };
  try {
    applied = await applyDetached(remote, txn.plan.stateDir, run.runId, applyScript(txn.plan), {
      reconnect: () => connectHost(run, host),
      sleep: (ms) => run.sleep(ms, opts.signal),
      nowMs: run.nowMs,
      timeoutMs: run.timeoutMs,
      // Inside the host's own timer, so health and confirm still fit after a reconnection.
      budgetMs: Math.min(run.timeoutMs * 5, (opts.revertAfterSec * 1000) / 2),
    });
  } catch (err) {
    return applyLost(host, run, res, txn, err);
  }
  // After a dropped session the apply went on; the new session carries the rest.
  if (applied.remote !== remote) keep(applied.remote);
  const live = applied.remote;
  if (applied.code !== TXN_EXIT.ok) return applyFailed(live, applied, txn, res, run);
  // An orphaned change (its timer gone: a reboot inside an earlier run's window) was reverted first.
  const orphan = /conegate-fleet: .*?: (reverted the change of .*)/.exec(applied.stderr);
  if (orphan) res.changes.push(`first ${orphan[1]!.slice(0, 200)}`);
  await healthAndDecide(host, run, res, live, plan.platform, baseline, txn.plan.stateDir);
}

/**
 * Rollback: the config the host had before run `runId`, from its transaction backup; the current one
 * if that run did not write it; undefined where the plugin owns the config. No trusted backup: the
 * host fails, nothing is changed (a package-only rollback would leave the run's config in place).
 */
async function previousConfig(remote: RemoteHost, host: FleetHost, probe: Awaited<ReturnType<typeof probeHost>>, root: string, runId: string, timeoutMs: number): Promise<string | undefined> {
  const platform = platformFor(host, probe.facts);
  const adapter = PLATFORM_ADAPTERS[platform];
  if (adapter.configOwnedByPlugin) return undefined;
  const layout = PLATFORM_LAYOUT[platform];
  const r = await remote.exec('/bin/sh -s', { stdin: previousConfigScript(root + adapter.stateDir, root + layout.configPath, root + layout.stateFile, runId), timeoutMs });
  if (r.code === PREV_CONFIG_EXIT.ok) return r.stdout;
  if (r.code === PREV_CONFIG_EXIT.untouched) return probe.currentConfig;
  throw new ConegateError('CG_NOT_FOUND', `${host.name}: cannot put back the config it had before run ${runId}: ${r.stderr.trim().slice(0, 200) || `exit ${r.code}`}; nothing changed`, { context: { host: host.name } });
}

function planFor(host: FleetHost, probe: Awaited<ReturnType<typeof probeHost>>, opts: RolloutOptions, restored?: string): { plan: HostPlan; pkg: PackageRef; config: string } {
  const platform = platformFor(host, probe.facts);
  const pkg = opts.packages[platform];
  if (!pkg) throw new ConegateError('CG_PACKAGE_MISSING', `${host.name}: no package given for platform ${platform} (--package ${platform}=FILE or --package-dir)`, { context: { host: host.name } });
  let config = restored ?? renderHostConfig(opts.baseConfig, host);
  let facts = probe.facts;
  const pluginConfig = PLATFORM_ADAPTERS[platform].configOwnedByPlugin;
  if (pluginConfig) {
    // The plugin renders conegate.json from config.xml: the fleet compares nothing and writes nothing there.
    config = probe.currentConfig ?? config;
    facts = { ...facts, configHash: sha256Hex(config) };
  }
  const plan = planHost(host, facts, { version: pkg.version, packageFile: pkg.file, packageHash: pkg.sha256, config }, probe.currentConfig);
  if (pluginConfig) plan.changes.push('config left to the plugin (config.xml)');
  return { plan, pkg, config };
}

interface Staged { plan: TxnPlan; uploads: StagedUpload[]; madeDirs: string[] }

async function stageChange(remote: RemoteHost, host: FleetHost, plan: HostPlan, pkg: PackageRef, config: string, run: HostRun): Promise<Staged> {
  const root = rootFor(host, run.opts);
  const layout = PLATFORM_LAYOUT[plan.platform];
  const adapter = PLATFORM_ADAPTERS[plan.platform];
  const uploads: StagedUpload[] = [];
  const add = (target: string, data: Buffer | string, mode: number) => uploads.push({ file: { target: root + target, staged: stagedName(root + target, run.runId) }, data, mode });
  const upload = plan.steps.find((s) => s.kind === 'upload');
  if (upload) add(upload.remotePath, pkg.file, 0o600);
  if (plan.steps.some((s) => s.kind === 'write-config')) add(layout.configPath, Buffer.from(config), 0o600);
  // The fleet state file is one of the transaction's files: a revert puts the old one back too.
  add(layout.stateFile, Buffer.from(JSON.stringify({ version: pkg.version, packageHash: pkg.sha256, runId: run.runId }) + '\n'), 0o600);
  const stateDir = root + adapter.stateDir;
  const parts = upload ? adapter.parts({ host, root, version: pkg.version, packageHash: pkg.sha256, packagePath: root + upload.remotePath, stateDir }) : undefined;
  const service = adapter.service(host);
  const txn: TxnPlan = {
    stateDir, files: uploads.map((u) => u.file), stopCommand: service.stopCommand, startCommand: service.startCommand,
    revertAfterSec: run.opts.revertAfterSec, owner: run.runId,
    ...(parts ? { trees: parts.trees, prepareCommands: parts.prepareCommands, installCommands: parts.installCommands, revertCommands: parts.revertCommands } : {}),
  };
  applyScript(txn); // refuses a bad path or command before anything is written on the host
  const dirs = [...new Set([...uploads.map((u) => u.file.target.slice(0, u.file.target.lastIndexOf('/'))), ...(parts?.dirs ?? [])])];
  const madeDirs = await ensureDirs(remote, dirs, run.timeoutMs);
  await uploadStaged(remote, uploads, madeDirs, run.timeoutMs);
  txn.createdDirs = madeDirs;
  return { plan: txn, uploads, madeDirs };
}

async function applyFailed(remote: RemoteHost, r: { code: number; stderr: string }, txn: Staged, res: HostResult, run: HostRun): Promise<void> {
  const why = r.stderr.trim().slice(0, 300);
  if (r.code === TXN_EXIT.failedAfter) {
    // The revert has run; a staged file not yet moved when the install failed is taken away too.
    await cleanupStaged(remote, txn.uploads, txn.madeDirs, run.timeoutMs);
    res.outcome = 'reverted';
    res.error = { code: 'CG_COMMAND_FAILED', message: `install failed on the host, previous files restored: ${why}` };
    return;
  }
  // Nothing was changed (busy, or failed before the timer): take the staged files away again.
  await cleanupStaged(remote, txn.uploads, txn.madeDirs, run.timeoutMs);
  if (r.code === TXN_EXIT.busy) throw new ConegateError('CG_BUSY', `another rollout is changing this host; nothing changed (${why})`);
  throw new ConegateError('CG_COMMAND_FAILED', `apply failed with status ${r.code}, nothing changed: ${why}`);
}

/**
 * The session broke during the apply: whether the change got applied is unknown. Over a new
 * connection: revert it now if it is armed, else take the staged files away; unreachable -> the
 * host's timer reverts it if it was applied.
 */
async function applyLost(host: FleetHost, run: HostRun, res: HostResult, txn: Staged, err: unknown): Promise<void> {
  const lost = errorOf(err).message;
  let c: RemoteHost | undefined;
  try {
    c = await connectHost(run, host);
    const r = await c.exec('/bin/sh -s', { stdin: revertNowScript(txn.plan.stateDir, run.runId), timeoutMs: run.timeoutMs * 5 });
    await cleanupStaged(c, txn.uploads, txn.madeDirs, run.timeoutMs);
    res.outcome = r.code === 0 ? 'reverted' : 'failed';
    res.error = { code: 'CG_CONNECTION_LOST', message: `session lost during apply (${lost}); ${r.code === 0 ? `reverted over a new connection (${r.stdout.trim()})` : 'it had not applied; staged files removed'}` };
  } catch {
    res.outcome = 'failed';
    res.error = { code: 'CG_CONNECTION_LOST', message: `session lost during apply (${lost}); the host is unreachable: if the change was applied, its timer reverts it within ${run.opts.revertAfterSec} s` };
  } finally {
    await closeQuietly(c);
  }
}

async function healthAndDecide(host: FleetHost, run: HostRun, res: HostResult, remote: RemoteHost, platform: FleetPlatform, baseline: HealthSample | undefined, stateDir: string): Promise<void> {
  const { opts } = run;
  step(run, host, 'health');
  const samples: HealthSample[] = [];
  const n = Math.max(1, Math.ceil(opts.health.settleMs / Math.max(1, opts.health.intervalMs)));
  let lost: unknown;
  let session = remote;
  let reopened: RemoteHost | undefined;
  try {
    for (let k = 0; k < n; k++) {
      // Not cut short by an interrupt: a host in flight finishes its transaction (confirm or revert).
      await run.sleep(opts.health.intervalMs);
      try {
        samples.push(await opts.health.sample(session, platform, host));
      } catch (err) {
        // The session may ride on the mesh the change just restarted: one new connection, then the
        // same sample again; the host unreachable after that is a failed gate.
        await closeQuietly(reopened);
        reopened = undefined;
        const fresh = await connectHost(run, host).catch(() => Promise.reject(err));
        session = reopened = fresh;
        samples.push(await opts.health.sample(session, platform, host));
      }
    }
  } catch (err) {
    lost = err;
  }
  try {
    const verdict = lost ? { ok: false, reasons: [`health sampling stopped: ${errorOf(lost).message}`] } : opts.health.judge(baseline, samples, res.toVersion);
    res.health = verdict;
    if (verdict.ok) return await confirm(host, run, res, stateDir);
    step(run, host, 'revert', verdict.reasons.join('; '));
    await revertNow(host, run, res, session, stateDir, verdict.reasons);
  } finally {
    await closeQuietly(reopened);
  }
}

async function confirm(host: FleetHost, run: HostRun, res: HostResult, stateDir: string): Promise<void> {
  step(run, host, 'confirm');
  let c: RemoteHost | undefined;
  try {
    // A new connection: the one the change was made over may ride on the mesh being upgraded.
    c = await connectHost(run, host);
    const r = await c.exec('/bin/sh -s', { stdin: confirmScript(stateDir, run.runId), timeoutMs: run.timeoutMs });
    if (r.code === 0) return void (res.outcome = 'changed');
    if (r.code === 3) {
      res.outcome = 'reverted';
      res.error = { code: 'CG_TIMEOUT', message: `the host's timer reverted the change before the confirm arrived (${r.stderr.trim()})` };
      return;
    }
    throw new ConegateError('CG_COMMAND_FAILED', `confirm failed with status ${r.code}: ${r.stderr.trim().slice(0, 200)}`);
  } catch (err) {
    const e = errorOf(err);
    res.outcome = 'failed';
    res.error = { code: e.code, message: `not confirmed (${e.message}); the host reverts by itself within ${run.opts.revertAfterSec} s` };
  } finally {
    await closeQuietly(c);
  }
}

async function revertNow(host: FleetHost, run: HostRun, res: HostResult, remote: RemoteHost, stateDir: string, reasons: string[]): Promise<void> {
  const script = revertNowScript(stateDir, run.runId);
  let r = await remote.exec('/bin/sh -s', { stdin: script, timeoutMs: run.timeoutMs * 5 }).catch(() => undefined);
  let c: RemoteHost | undefined;
  try {
    if (!r) {
      c = await connectHost(run, host).catch(() => undefined);
      r = c ? await c.exec('/bin/sh -s', { stdin: script, timeoutMs: run.timeoutMs * 5 }).catch(() => undefined) : undefined;
    }
  } finally {
    await closeQuietly(c);
  }
  const gate = `health gate failed: ${reasons.join('; ')}`;
  if (!r) {
    res.outcome = 'failed';
    res.error = { code: 'CG_CONNECTION_LOST', message: `${gate}; the host could not be reached to revert, its timer reverts within ${run.opts.revertAfterSec} s` };
  } else if (r.code === 0 && r.stdout.trim() === 'ok') {
    res.outcome = 'reverted';
    res.error = { code: 'CG_HEALTH_GATE_FAILED', message: `${gate}; previous files restored` };
  } else {
    res.outcome = 'failed';
    res.error = { code: 'CG_STATE_CORRUPT', message: `${gate}; the revert reported '${r.stdout.trim() || r.stderr.trim()}' (exit ${r.code})` };
  }
}

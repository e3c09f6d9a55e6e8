/**
 * The contract between the fleet's pure planning side (inventories, patterns, batches, per-host plans)
 * and its SSH edge (RemoteHost). Both sides import only this file from each other, so either can be
 * replaced (the in-memory twin of RemoteHost runs the planner's tests).
 */

/** Platforms a fleet host can run; `auto` = detect over SSH from the marker files. */
export type FleetPlatform = 'opnsense' | 'pfsense' | 'unifi' | 'linux';
export type PlatformChoice = FleetPlatform | 'auto';

/** One host, fully resolved from an inventory (Ansible variable precedence already applied). */
export interface FleetHost {
  /** Inventory name (Ansible's inventory_hostname). */
  name: string;
  /** What to connect to: ansible_host, else the name. */
  address: string;
  /** ansible_port, else 22. */
  port: number;
  /** ansible_user, else "root". */
  user: string;
  /** ansible_ssh_private_key_file as written (Ansible resolves a relative path against the working directory). */
  keyFile?: string;
  /** Every variable that applies to the host, after precedence (includes the ansible_* ones). */
  vars: Record<string, unknown>;
  /** Every group the host is in, directly or through children, incl. "all" (sorted). */
  groups: string[];
  /** From our own inventory form or the conegate_platform variable; absent = auto. */
  platform?: PlatformChoice;
  /** Per-host overrides merged over the rendered conegate config (our form, or conegate_config). */
  config?: Record<string, unknown>;
}

/** How a host key is verified: ssh2 accepts any key unless told otherwise, so one of these must pin it. */
export interface HostTrust {
  /** OpenSSH known_hosts file to look the host up in ([host]:port entries for non-22 ports). */
  knownHostsFile?: string;
  /** The expected key, OpenSSH public-key form "type base64" (e.g. "ssh-ed25519 AAAA..."). */
  pinnedKey?: string;
  /** Accept and record a host that is not known yet (never a changed key). Only when asked. */
  acceptNew: boolean;
}

export interface ExecOptions {
  /** Bytes for the command's stdin; scripts go as `/bin/sh -s` with the script here. */
  stdin?: string | Buffer;
  timeoutMs: number;
}

export interface ExecResult {
  /** Exit status; a command killed by a signal reports 128 + signal number. */
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * One SSH session to a host (fleetssh builds the real one on ssh2). Commands run on an exec channel,
 * never a PTY, and are always one line: OPNsense's root shell is csh and pfSense's is a menu wrapper,
 * so anything longer travels on stdin to `/bin/sh -s` or as an uploaded script.
 */
export interface RemoteHost {
  exec(cmd: string, opts?: ExecOptions): Promise<ExecResult>;
  /**
   * Writes to a temporary name beside remotePath, checks its sha256 on the host, then renames: a dropped
   * connection leaves no partial file at remotePath. `local` is the bytes or a local file path.
   */
  upload(local: Buffer | string, remotePath: string, mode: number): Promise<void>;
  close(): Promise<void>;
}

/** Opens a RemoteHost; the seam the rollout executor takes as a dependency. */
export type RemoteConnector = (host: FleetHost, trust: HostTrust) => Promise<RemoteHost>;

/** What detection found on a host before a change: the input of the per-host plan. */
export interface HostFacts {
  platform: FleetPlatform | 'unknown';
  /** Installed conegate version, absent when not installed. */
  version?: string;
  /** sha256 (hex) of the installed conegate config file, absent when there is none. */
  configHash?: string;
  /** sha256 (hex) of the package file the installed version came from, where recorded. */
  packageHash?: string;
}

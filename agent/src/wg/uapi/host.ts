/**
 * Connects the UAPI vocabulary to a Device. The Device does not reveal its private key, so the host keeps
 * the one it was given (for `get`'s private_key line, which `wg showconf` prints) and it owns the
 * listen port and the fwmark (SO_MARK, Linux) through the bind.
 *
 * A set is all or nothing, as in wireguard-go: everything that can be refused is checked first, then
 * the steps that can fail run in an order that can be undone (mark, then the new port, whose sockets
 * open before the old ones close), and only then the key and the peers change, which cannot fail once
 * parsed. A failed set returns an errno and leaves key, port, mark and peers as they were.
 */
import { isConegateError } from '../../errors.ts';
import type { Device } from '../types.ts';
import { UAPI_ERRNO, UapiError, type UapiGet, type UapiSet } from './protocol.ts';
import type { UapiHost } from './server.ts';

/** The part of a bind the host needs: its port, and moving it (DgramBind.rebind). */
export interface RebindableBind {
  readonly localPort?: number;
  /** Moves to a new port; on failure the bind must be exactly as before (DgramBind opens new sockets first). */
  rebind?(port: number): Promise<void>;
  /** Sets SO_MARK on the sockets (and on those a later rebind opens). */
  setMark?(mark: number): void;
  readonly fwmark?: number;
}

export interface DeviceUapiHostDeps {
  device: Device;
  bind: RebindableBind;
  privateKey?: Uint8Array;
}

export class DeviceUapiHost implements UapiHost {
  private privateKey: Uint8Array | undefined;
  /** Sets run one at a time: two UAPI connections must not interleave a rebind. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly deps: DeviceUapiHostDeps) {
    this.privateKey = deps.privateKey;
  }

  get(): UapiGet {
    return {
      privateKey: this.privateKey,
      listenPort: this.deps.bind.localPort ?? 0,
      fwmark: this.deps.bind.fwmark ?? 0,
      peers: this.deps.device.peers().map((p) => ({
        publicKey: p.publicKey,
        presharedKey: p.presharedKey,
        endpoint: p.endpoint,
        lastHandshakeWallMs: p.lastHandshakeWallMs,
        txBytes: p.txBytes,
        rxBytes: p.rxBytes,
        persistentKeepaliveSec: p.persistentKeepaliveSec,
        allowedIps: p.allowedIps,
      })),
    };
  }

  set(req: UapiSet): Promise<void> {
    const run = this.queue.then(() => this.apply(req));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async apply(req: UapiSet): Promise<void> {
    const { device, bind } = this.deps;
    // 1. Refusals without side effects.
    if (req.privateKey && req.privateKey.every((b) => b === 0)) throw new UapiError(UAPI_ERRNO.EINVAL, 'removing the private key is not supported');
    const newPort = req.listenPort !== undefined && req.listenPort !== bind.localPort ? req.listenPort : undefined;
    if (newPort !== undefined && !bind.rebind) throw new UapiError(UAPI_ERRNO.EINVAL, 'this bind cannot change its port');
    const oldMark = bind.fwmark ?? 0;
    const newMark = req.fwmark !== undefined && req.fwmark !== oldMark ? req.fwmark : undefined;
    if (newMark !== undefined && !bind.setMark) throw new UapiError(UAPI_ERRNO.EOPNOTSUPP, 'this bind cannot mark packets (fwmark)');

    // 2. Steps that can fail, each undone if a later one fails.
    if (newMark !== undefined) {
      try {
        bind.setMark!(newMark);
      } catch (err) {
        throw new UapiError(errnoOf(err), `fwmark ${newMark}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (newPort !== undefined) {
      try {
        await bind.rebind!(newPort);
      } catch (err) {
        if (newMark !== undefined) bind.setMark!(oldMark);
        throw new UapiError(isConegateError(err) && err.code === 'CG_BUSY' ? UAPI_ERRNO.EADDRINUSE : errnoOf(err), `listen_port ${newPort}: cannot bind`);
      }
    }

    // 3. Device changes: parsed and validated already, they cannot fail.
    if (req.privateKey) {
      device.setPrivateKey(req.privateKey);
      this.privateKey = req.privateKey;
    }
    if (req.replacePeers) device.removeAllPeers();
    for (const p of req.peers) {
      if (p.remove) {
        device.removePeer(p.publicKey);
        continue;
      }
      device.upsertPeer({
        publicKey: p.publicKey,
        ...(p.presharedKey ? { presharedKey: p.presharedKey } : {}),
        ...(p.endpoint ? { endpoint: p.endpoint } : {}),
        ...(p.persistentKeepaliveSec !== undefined ? { persistentKeepaliveSec: p.persistentKeepaliveSec } : {}),
        ...(p.allowedIps.length || p.replaceAllowedIps ? { allowedIps: p.allowedIps } : {}),
        replaceAllowedIps: p.replaceAllowedIps,
        updateOnly: p.updateOnly,
      });
    }
  }
}

/** errno for a bind failure: EPERM without the capability, EOPNOTSUPP where the platform lacks it, else EIO. */
function errnoOf(err: unknown): number {
  if (!isConegateError(err)) return UAPI_ERRNO.EIO;
  if (err.code === 'CG_NOT_PERMITTED') return UAPI_ERRNO.EPERM;
  if (err.code === 'CG_UNSUPPORTED') return UAPI_ERRNO.EOPNOTSUPP;
  return UAPI_ERRNO.EIO;
}

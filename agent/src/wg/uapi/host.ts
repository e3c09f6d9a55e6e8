/**
 * Connects the UAPI vocabulary to a Device. The Device does not reveal its private key, so the host keeps
 * the one it was given (for `get`'s private_key line, which `wg showconf` prints) and it owns the
 * listen port through the bind. fwmark is accepted and reported but not applied: node:dgram exposes no
 * SO_MARK (documented in README-edge.md).
 */
import { isConegateError } from '../../errors.ts';
import type { Device } from '../types.ts';
import { UAPI_ERRNO, UapiError, type UapiGet, type UapiSet } from './protocol.ts';
import type { UapiHost } from './server.ts';

/** The part of a bind the host needs: its port, and moving it (DgramBind.rebind). */
export interface RebindableBind {
  readonly localPort?: number;
  rebind?(port: number): Promise<void>;
}

export interface DeviceUapiHostDeps {
  device: Device;
  bind: RebindableBind;
  privateKey?: Uint8Array;
}

export class DeviceUapiHost implements UapiHost {
  private privateKey: Uint8Array | undefined;
  private fwmark = 0;

  constructor(private readonly deps: DeviceUapiHostDeps) {
    this.privateKey = deps.privateKey;
  }

  get(): UapiGet {
    return {
      privateKey: this.privateKey,
      listenPort: this.deps.bind.localPort ?? 0,
      fwmark: this.fwmark,
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

  async set(req: UapiSet): Promise<void> {
    const { device, bind } = this.deps;
    if (req.privateKey) {
      if (req.privateKey.every((b) => b === 0)) throw new UapiError(UAPI_ERRNO.EINVAL, 'removing the private key is not supported');
      device.setPrivateKey(req.privateKey);
      this.privateKey = req.privateKey;
    }
    if (req.listenPort !== undefined && req.listenPort !== bind.localPort) {
      if (!bind.rebind) throw new UapiError(UAPI_ERRNO.EINVAL, 'this bind cannot change its port');
      try {
        await bind.rebind(req.listenPort);
      } catch (err) {
        throw new UapiError(isConegateError(err) && err.code === 'CG_BUSY' ? UAPI_ERRNO.EADDRINUSE : UAPI_ERRNO.EIO, `listen_port ${req.listenPort}: cannot bind`);
      }
    }
    if (req.fwmark !== undefined) this.fwmark = req.fwmark;
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

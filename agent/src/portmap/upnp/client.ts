/**
 * UPnP IGD client: SSDP discovery of the gateway, its WAN connection service, and the three actions
 * a mapping needs. Written here instead of using the npm nat-upnp package: nat-upnp speaks IGD v1
 * only (UniFi gateways expose only IGD v2), lacks AddAnyPortMapping, does not XML-escape SOAP
 * arguments, and depends on unmaintained packages (request, old xml2js, ip) with open CVEs.
 */
import { createSocket } from 'node:dgram';
import { realClock, type CancelTimer, type Clock } from '../../clock/clock.ts';
import { ConegateError, DecodeError } from '../../errors.ts';
import { natpmpSchedule, truncateSchedule } from '../schedule.ts';
import { parseDescription, type WanService } from './description.ts';
import { httpExchange } from './http.ts';
import { buildSoapRequest, parseSoapResponse, UPNP_ERROR, type SoapArgs, type SoapFault } from './soap.ts';
import { decodeSsdp, encodeMSearch, gatewayLocation, IGD_SEARCH_TARGETS, SSDP_GROUP, SSDP_PORT, type SsdpMessage } from './ssdp.ts';

export interface UpnpOptions {
  gateway: string;
  /** SSDP port of the gateway (1900; tests use a fake on an ephemeral port). */
  ssdpPort?: number;
  /** Also search by multicast to 239.255.255.250 (default: when ssdpPort is 1900). */
  multicast?: boolean;
  timeoutMs: number;
  clock?: Clock;
  signal?: AbortSignal;
}

/** What discovery found: enough to call actions later without searching again. */
export interface UpnpGateway {
  location: string;
  service: WanService;
  /** Our LAN address as the gateway sees it (InternalClient of our mappings). */
  localAddress: string;
  /** BOOTID.UPNP.ORG of the SSDP reply, if the device sends one (UDA 1.1). */
  bootId?: number;
}

/** A UPnP action failed with a UPnP error code (ConflictInMappingEntry, NotAuthorized, ...). */
export class UpnpActionError extends ConegateError {
  override readonly name = 'UpnpActionError';
  constructor(
    readonly action: string,
    readonly upnpCode: number,
    description: string,
  ) {
    super('CG_COMMAND_FAILED', `UPnP ${action} refused: ${upnpCode} ${description}`, { context: { action, upnpCode } });
  }
}

/** Sends M-SEARCH for IGD v2 and v1 (unicast to the gateway and, on port 1900, multicast) and takes the first valid reply from the gateway. */
export function searchGateway(opts: UpnpOptions): Promise<{ msg: SsdpMessage; location: URL }> {
  const clock = opts.clock ?? realClock;
  const port = opts.ssdpPort ?? SSDP_PORT;
  // Multicast only makes sense towards a real LAN gateway; a loopback one (tests, local daemons) gets unicast only.
  const multicast = opts.multicast ?? (port === SSDP_PORT && !opts.gateway.startsWith('127.'));
  const schedule = truncateSchedule(natpmpSchedule(4), opts.timeoutMs);
  return new Promise((resolve, reject) => {
    const sock = createSocket({ type: 'udp4' });
    const timers: CancelTimer[] = [];
    let done = false;
    const onAbort = (): void => finish(new ConegateError('CG_TIMEOUT', 'SSDP search aborted'));
    const finish = (err?: Error, value?: { msg: SsdpMessage; location: URL }): void => {
      if (done) return;
      done = true;
      for (const t of timers) t();
      opts.signal?.removeEventListener('abort', onAbort);
      sock.close();
      if (err) reject(err);
      else resolve(value!);
    };
    sock.on('error', (err) => finish(new ConegateError('CG_NETWORK', `SSDP: ${err.message}`, { cause: err })));
    sock.on('message', (buf, rinfo) => {
      if (rinfo.address !== opts.gateway) return;
      let msg: SsdpMessage;
      try {
        msg = decodeSsdp(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
      } catch {
        return;
      }
      const location = msg.kind === 'response' ? gatewayLocation(msg, rinfo.address) : undefined;
      if (location) finish(undefined, { msg, location });
    });
    const send = (): void => {
      for (const st of IGD_SEARCH_TARGETS) {
        const req = encodeMSearch(st, 1);
        sock.send(req, port, opts.gateway, () => undefined);
        if (multicast) sock.send(req, SSDP_PORT, SSDP_GROUP, () => undefined);
      }
    };
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    sock.bind(0, () => {
      if (multicast) sock.setMulticastTTL(2);
      for (const at of schedule.sendAtMs) {
        if (at <= 0) send();
        else timers.push(clock.setTimer(at, send));
      }
      timers.push(clock.setTimer(schedule.giveUpAtMs, () => finish(new ConegateError('CG_TIMEOUT', `no UPnP IGD answered at ${opts.gateway}`))));
    });
  });
}

/** Finds the gateway's IGD and its WAN connection service. */
export async function discoverUpnp(opts: UpnpOptions): Promise<UpnpGateway> {
  const { msg, location } = await searchGateway(opts);
  const reply = await httpExchange({ url: location.toString(), method: 'GET', timeoutMs: opts.timeoutMs, clock: opts.clock, signal: opts.signal });
  if (reply.status !== 200) throw new ConegateError('CG_NETWORK', `UPnP description ${location} answered HTTP ${reply.status}`);
  const service = parseDescription(reply.body, location.toString());
  // The control URL must stay on the gateway: a description pointing elsewhere is not followed.
  if (new URL(service.controlUrl).hostname !== opts.gateway) throw new DecodeError('controlURL points away from the gateway', { controlUrl: service.controlUrl });
  const gw: UpnpGateway = { location: location.toString(), service, localAddress: reply.localAddress };
  if (msg.bootId !== undefined) gw.bootId = msg.bootId;
  return gw;
}

/** Calls one action; resolves with its output values, throws UpnpActionError on a UPnP fault. */
export async function callAction(gw: UpnpGateway, action: string, args: SoapArgs, opts: Pick<UpnpOptions, 'timeoutMs' | 'clock' | 'signal'>): Promise<Record<string, string>> {
  const req = buildSoapRequest(gw.service.serviceType, action, args);
  const reply = await httpExchange({ url: gw.service.controlUrl, method: 'POST', headers: req.headers, body: req.body, timeoutMs: opts.timeoutMs, clock: opts.clock, signal: opts.signal });
  let parsed;
  try {
    parsed = parseSoapResponse(reply.body, action);
  } catch (err) {
    throw new ConegateError('CG_NETWORK', `UPnP ${action}: HTTP ${reply.status} with an unreadable body`, { cause: err });
  }
  if (!parsed.ok) throw new UpnpActionError(action, (parsed as SoapFault).errorCode, (parsed as SoapFault).errorDescription);
  return parsed.values;
}

export async function upnpExternalAddress(gw: UpnpGateway, opts: Pick<UpnpOptions, 'timeoutMs' | 'clock' | 'signal'>): Promise<string> {
  const v = await callAction(gw, 'GetExternalIPAddress', [], opts);
  return v.NewExternalIPAddress ?? '';
}

export interface UpnpMapRequest {
  protocol: 'udp' | 'tcp';
  internalPort: number;
  /** Wanted external port (the current one when renewing). */
  externalPort: number;
  lifetimeSec: number;
  description?: string;
  /**
   * Renewing (or re-creating) a mapping we held: AddPortMapping on that very port first, which updates
   * an existing entry for the same client (IGD v2 2.5.16), where AddAnyPortMapping could hand out a
   * second port on some firmware.
   */
  renew?: boolean;
}

export interface UpnpMapResult {
  externalPort: number;
  /** Granted lease; 0 = permanent (a v1 router that only does permanent leases). */
  lifetimeSec: number;
  /** Which action made it. */
  action: 'AddAnyPortMapping' | 'AddPortMapping';
}

/**
 * Maps a port: AddAnyPortMapping on IGD v2 (the router picks a free port), else AddPortMapping on the
 * wanted port, then on other ports from randomPort() while the router reports a conflict (718), and
 * with a permanent lease if the router only supports those (725). At most `tries` attempts.
 */
export async function upnpAddMapping(gw: UpnpGateway, req: UpnpMapRequest, opts: Pick<UpnpOptions, 'timeoutMs' | 'clock' | 'signal'> & { randomPort: () => number; tries?: number }): Promise<UpnpMapResult> {
  const args = (externalPort: number, leaseSec: number): SoapArgs => [
    ['NewRemoteHost', ''],
    ['NewExternalPort', externalPort],
    ['NewProtocol', req.protocol.toUpperCase()],
    ['NewInternalPort', req.internalPort],
    ['NewInternalClient', gw.localAddress],
    ['NewEnabled', 1],
    ['NewPortMappingDescription', req.description ?? 'conegate'],
    ['NewLeaseDuration', leaseSec],
  ];
  const addAny = async (): Promise<UpnpMapResult | undefined> => {
    try {
      const v = await callAction(gw, 'AddAnyPortMapping', args(req.externalPort, req.lifetimeSec), opts);
      const port = Number(v.NewReservedPort);
      if (Number.isInteger(port) && port > 0 && port < 65536) return { externalPort: port, lifetimeSec: req.lifetimeSec, action: 'AddAnyPortMapping' };
      throw new ConegateError('CG_NETWORK', `UPnP AddAnyPortMapping returned a bad port ${v.NewReservedPort}`);
    } catch (err) {
      // Some v2 firmware lists the action and then refuses it; v1 AddPortMapping is still required of it.
      if (!(err instanceof UpnpActionError)) throw err;
      return undefined;
    }
  };
  let triedAny = false;
  if (gw.service.version === 2 && !req.renew) {
    triedAny = true;
    const r = await addAny();
    if (r) return r;
  }
  let port = req.externalPort;
  let lease = req.lifetimeSec;
  const tries = opts.tries ?? 4;
  for (let i = 0; ; i++) {
    try {
      await callAction(gw, 'AddPortMapping', args(port, lease), opts);
      return { externalPort: port, lifetimeSec: lease, action: 'AddPortMapping' };
    } catch (err) {
      if (!(err instanceof UpnpActionError) || i + 1 >= tries) throw err;
      if (err.upnpCode === UPNP_ERROR.ONLY_PERMANENT_LEASES_SUPPORTED && lease !== 0) lease = 0;
      else if (err.upnpCode === UPNP_ERROR.CONFLICT_IN_MAPPING_ENTRY) {
        // Our old port went to someone else (the router rebooted meanwhile): let a v2 router choose.
        if (gw.service.version === 2 && !triedAny) {
          triedAny = true;
          const r = await addAny();
          if (r) return r;
        }
        port = opts.randomPort();
      } else if (err.upnpCode === UPNP_ERROR.SAME_PORT_VALUES_REQUIRED && port !== req.internalPort) port = req.internalPort;
      else throw err;
    }
  }
}

export async function upnpDeleteMapping(gw: UpnpGateway, m: { protocol: 'udp' | 'tcp'; externalPort: number }, opts: Pick<UpnpOptions, 'timeoutMs' | 'clock' | 'signal'>): Promise<void> {
  await callAction(gw, 'DeletePortMapping', [['NewRemoteHost', ''], ['NewExternalPort', m.externalPort], ['NewProtocol', m.protocol.toUpperCase()]], opts);
}

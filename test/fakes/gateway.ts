/**
 * An in-process fake gateway for port-mapping tests: UPnP IGD (SSDP + HTTP), NAT-PMP and PCP on
 * loopback ephemeral ports, each switchable, counting what it receives, with a real epoch that
 * reset() restarts (dropping every mapping, as a rebooted router does) and that announce() sends.
 * Time comes from a Clock, so a FakeClock shared with the client drives epochs and lifetimes.
 */
import { createServer, type Server } from 'node:http';
import { createSocket, type Socket } from 'node:dgram';
import type { Clock } from '../../agent/src/clock/clock.ts';
import { formatIp, parseIPv4, toMappedV6, fromMappedV6 } from '../../agent/src/net/ip.ts';
import { decodePmpRequest, encodePmpAnnouncement, encodePmpResponse, PmpResult } from '../../agent/src/pmp/codec.ts';
import { decodePcpRequest, encodePcpAnnouncement, encodePcpResponse, PcpResult, PcpProtocolNumber } from '../../agent/src/pcp/codec.ts';
import { decodeSsdp } from '../../agent/src/portmap/upnp/ssdp.ts';
import { child, descendants, escapeXml, parseXml } from '../../agent/src/portmap/upnp/xml.ts';

export interface FakeMapping {
  via: 'natpmp' | 'pcp' | 'upnp';
  protocol: 'udp' | 'tcp';
  internalAddress: string;
  internalPort: number;
  externalPort: number;
  lifetimeSec: number;
  expiresAtMs: number;
}

export interface FakeGatewayOptions {
  clock: Clock;
  natpmp?: boolean;
  pcp?: boolean;
  upnp?: boolean;
  /** IGD version of the WANIPConnection service (2 offers AddAnyPortMapping). */
  igdVersion?: 1 | 2;
  externalAddress?: string;
  /** Upper bound on granted lifetimes. */
  maxLifetimeSec?: number;
}

export interface FakeCounters {
  natpmpPublicAddress: number;
  natpmpMap: number;
  natpmpUnmap: number;
  pcpAnnounce: number;
  pcpMap: number;
  pcpUnmap: number;
  ssdpSearch: number;
  httpDescription: number;
  soap: Record<string, number>;
  dropped: number;
  announcementsSent: number;
}

const SOAP_NS = 'http://schemas.xmlsoap.org/soap/envelope/';

export class FakeGateway {
  readonly address = '127.0.0.1';
  natpmp: boolean;
  pcp: boolean;
  upnp: boolean;
  igdVersion: 1 | 2;
  externalAddress: string;
  maxLifetimeSec: number;
  readonly mappings = new Map<string, FakeMapping>();
  counters: FakeCounters = FakeGateway.zero();
  private epochStartMs: number;
  private pmpSock!: Socket;
  private ssdpSock!: Socket;
  private http!: Server;
  private nextPort = 40000;

  private constructor(private readonly opts: FakeGatewayOptions) {
    this.natpmp = opts.natpmp ?? true;
    this.pcp = opts.pcp ?? true;
    this.upnp = opts.upnp ?? true;
    this.igdVersion = opts.igdVersion ?? 2;
    this.externalAddress = opts.externalAddress ?? '203.0.113.7';
    this.maxLifetimeSec = opts.maxLifetimeSec ?? 3600;
    this.epochStartMs = opts.clock.nowMs();
  }

  static zero(): FakeCounters {
    return { natpmpPublicAddress: 0, natpmpMap: 0, natpmpUnmap: 0, pcpAnnounce: 0, pcpMap: 0, pcpUnmap: 0, ssdpSearch: 0, httpDescription: 0, soap: {}, dropped: 0, announcementsSent: 0 };
  }

  static async start(opts: FakeGatewayOptions): Promise<FakeGateway> {
    const gw = new FakeGateway(opts);
    await gw.listen();
    return gw;
  }

  /** Ports for the client's options (GatewayPorts). */
  ports(): { pmp: number; ssdp: number; http: number } {
    const http = this.http.address();
    return { pmp: this.pmpSock.address().port, ssdp: this.ssdpSock.address().port, http: typeof http === 'object' && http ? http.port : 0 };
  }

  epochSec(): number {
    return Math.floor((this.opts.clock.nowMs() - this.epochStartMs) / 1000);
  }

  /** Reboot: every mapping gone, the epoch starts again from 0. */
  reset(): void {
    this.mappings.clear();
    this.epochStartMs = this.opts.clock.nowMs();
  }

  /** Sends a NAT-PMP announcement and a PCP ANNOUNCE (each if enabled) to a client's announcement port. */
  async announce(port: number, address = '127.0.0.1'): Promise<void> {
    const sends: Uint8Array[] = [];
    const ext = parseIPv4(this.externalAddress)!;
    if (this.natpmp) sends.push(encodePmpAnnouncement(this.epochSec(), ext));
    if (this.pcp) sends.push(encodePcpAnnouncement(this.epochSec()));
    for (const b of sends) {
      await new Promise<void>((resolve) => this.pmpSock.send(b, port, address, () => resolve()));
      this.counters.announcementsSent++;
    }
  }

  /** Live mappings (expired ones are dropped first). */
  live(): FakeMapping[] {
    const now = this.opts.clock.nowMs();
    for (const [k, m] of this.mappings) if (m.expiresAtMs <= now) this.mappings.delete(k);
    return [...this.mappings.values()];
  }

  async close(): Promise<void> {
    this.pmpSock.close();
    this.ssdpSock.close();
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private async listen(): Promise<void> {
    this.pmpSock = createSocket('udp4');
    this.pmpSock.on('message', (msg, rinfo) => this.onPmp(new Uint8Array(msg), rinfo.address, rinfo.port));
    this.ssdpSock = createSocket('udp4');
    this.ssdpSock.on('message', (msg, rinfo) => this.onSsdp(new Uint8Array(msg), rinfo.address, rinfo.port));
    this.http = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const out = this.onHttp(req.method ?? 'GET', req.url ?? '/', String(req.headers.soapaction ?? ''), Buffer.concat(chunks).toString('utf8'), req.socket.remoteAddress ?? '');
        res.writeHead(out.status, { 'Content-Type': 'text/xml; charset="utf-8"' });
        res.end(out.body);
      });
    });
    await Promise.all([
      new Promise<void>((r) => this.pmpSock.bind(0, this.address, () => r())),
      new Promise<void>((r) => this.ssdpSock.bind(0, this.address, () => r())),
      new Promise<void>((r) => this.http.listen(0, this.address, () => r())),
    ]);
  }

  private key(protocol: string, externalPort: number): string {
    return `${protocol}:${externalPort}`;
  }

  /** Finds or allocates the external port for an internal endpoint (same internal endpoint keeps its port). */
  private allocate(via: FakeMapping['via'], protocol: 'udp' | 'tcp', internalAddress: string, internalPort: number, suggested: number, lifetimeSec: number): FakeMapping {
    this.live();
    const existing = [...this.mappings.values()].find((m) => m.protocol === protocol && m.internalAddress === internalAddress && m.internalPort === internalPort);
    let externalPort = existing?.externalPort;
    if (externalPort === undefined) {
      externalPort = suggested > 0 && !this.mappings.has(this.key(protocol, suggested)) ? suggested : this.nextPort++;
    }
    const granted = Math.min(lifetimeSec, this.maxLifetimeSec);
    const m: FakeMapping = { via, protocol, internalAddress, internalPort, externalPort, lifetimeSec: granted, expiresAtMs: this.opts.clock.nowMs() + granted * 1000 };
    this.mappings.set(this.key(protocol, externalPort), m);
    return m;
  }

  private remove(protocol: 'udp' | 'tcp', internalAddress: string, internalPort: number): void {
    for (const [k, m] of this.mappings) if (m.protocol === protocol && m.internalAddress === internalAddress && m.internalPort === internalPort) this.mappings.delete(k);
  }

  private reply(b: Uint8Array, address: string, port: number): void {
    this.pmpSock.send(b, port, address);
  }

  private onPmp(b: Uint8Array, address: string, port: number): void {
    if (b[0] === 0) {
      if (!this.natpmp) return void this.counters.dropped++;
      let req;
      try {
        req = decodePmpRequest(b);
      } catch {
        return void this.counters.dropped++;
      }
      if (req.kind === 'publicAddress') {
        this.counters.natpmpPublicAddress++;
        return this.reply(encodePmpResponse({ kind: 'publicAddress', result: PmpResult.SUCCESS, epochSec: this.epochSec(), externalAddress: parseIPv4(this.externalAddress)! }), address, port);
      }
      if (req.lifetimeSec === 0) {
        this.counters.natpmpUnmap++;
        this.remove(req.protocol, address, req.internalPort);
        return this.reply(encodePmpResponse({ kind: 'map', protocol: req.protocol, result: PmpResult.SUCCESS, epochSec: this.epochSec(), internalPort: req.internalPort, externalPort: 0, lifetimeSec: 0 }), address, port);
      }
      this.counters.natpmpMap++;
      const m = this.allocate('natpmp', req.protocol, address, req.internalPort, req.suggestedExternalPort, req.lifetimeSec);
      return this.reply(encodePmpResponse({ kind: 'map', protocol: req.protocol, result: PmpResult.SUCCESS, epochSec: this.epochSec(), internalPort: req.internalPort, externalPort: m.externalPort, lifetimeSec: m.lifetimeSec }), address, port);
    }
    if (b[0] === 2) {
      if (!this.pcp) {
        if (!this.natpmp) return void this.counters.dropped++;
        // RFC 6887 9: a NAT-PMP-only server answers with its own UNSUPP_VERSION.
        return this.reply(encodePmpResponse({ kind: 'error', opcode: b[1]! & 0x7f, result: PmpResult.UNSUPPORTED_VERSION, epochSec: this.epochSec() }), address, port);
      }
      let req;
      try {
        req = decodePcpRequest(b);
      } catch {
        return void this.counters.dropped++;
      }
      const common = { result: PcpResult.SUCCESS, epochSec: this.epochSec(), options: [] };
      if (req.opcode === 'announce') {
        this.counters.pcpAnnounce++;
        return this.reply(encodePcpResponse({ ...common, opcode: 'announce', lifetimeSec: 0 }), address, port);
      }
      if (req.opcode !== 'map') return void this.counters.dropped++;
      const client = fromMappedV6(req.clientAddress);
      if (!client || formatIp(client) !== address) {
        return this.reply(encodePcpResponse({ ...common, result: PcpResult.ADDRESS_MISMATCH, opcode: 'map', lifetimeSec: 0, map: req.map }), address, port);
      }
      const protocol = req.map.protocol === PcpProtocolNumber.UDP ? 'udp' : 'tcp';
      if (req.lifetimeSec === 0) {
        this.counters.pcpUnmap++;
        this.remove(protocol, address, req.map.internalPort);
        return this.reply(encodePcpResponse({ ...common, opcode: 'map', lifetimeSec: 0, map: req.map }), address, port);
      }
      this.counters.pcpMap++;
      const m = this.allocate('pcp', protocol, address, req.map.internalPort, req.map.externalPort, req.lifetimeSec);
      const map = { ...req.map, externalPort: m.externalPort, externalAddress: toMappedV6(parseIPv4(this.externalAddress)!) };
      return this.reply(encodePcpResponse({ ...common, opcode: 'map', lifetimeSec: m.lifetimeSec, map }), address, port);
    }
    this.counters.dropped++;
  }

  private onSsdp(b: Uint8Array, address: string, port: number): void {
    if (!this.upnp) return void this.counters.dropped++;
    let msg;
    try {
      msg = decodeSsdp(b);
    } catch {
      return void this.counters.dropped++;
    }
    if (msg.kind !== 'search') return;
    this.counters.ssdpSearch++;
    const text =
      'HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\n' +
      `ST: ${msg.headers.st ?? ''}\r\nUSN: uuid:fake-gateway::${msg.headers.st ?? ''}\r\nEXT:\r\nSERVER: Debian/12 UPnP/1.1 FakeGateway/1.0\r\n` +
      `LOCATION: http://${this.address}:${this.ports().http}/rootDesc.xml\r\nBOOTID.UPNP.ORG: 1\r\n\r\n`;
    this.ssdpSock.send(new TextEncoder().encode(text), port, address);
  }

  private serviceType(): string {
    return `urn:schemas-upnp-org:service:WANIPConnection:${this.igdVersion}`;
  }

  private onHttp(method: string, url: string, soapAction: string, body: string, remote: string): { status: number; body: string } {
    if (!this.upnp) return { status: 404, body: '' };
    if (method === 'GET' && url === '/rootDesc.xml') {
      this.counters.httpDescription++;
      return { status: 200, body: this.description() };
    }
    if (method !== 'POST' || url !== '/ctl/IPConn') return { status: 404, body: '' };
    const action = /#(\w+)"?$/.exec(soapAction)?.[1] ?? '';
    this.counters.soap[action] = (this.counters.soap[action] ?? 0) + 1;
    const doc = parseXml(body);
    const el = descendants(doc, action)[0];
    const arg = (name: string): string => child(el, name)?.text.trim() ?? '';
    const fault = (code: number, desc: string) => ({
      status: 500,
      body: `<?xml version="1.0"?><s:Envelope xmlns:s="${SOAP_NS}"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>${code}</errorCode><errorDescription>${desc}</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`,
    });
    const ok = (values: Record<string, string | number>) => ({
      status: 200,
      body: `<?xml version="1.0"?><s:Envelope xmlns:s="${SOAP_NS}" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:${action}Response xmlns:u="${this.serviceType()}">${Object.entries(values).map(([k, v]) => `<${k}>${escapeXml(String(v))}</${k}>`).join('')}</u:${action}Response></s:Body></s:Envelope>`,
    });
    const protocol = arg('NewProtocol').toLowerCase() === 'tcp' ? 'tcp' : 'udp';
    switch (action) {
      case 'GetExternalIPAddress':
        return ok({ NewExternalIPAddress: this.externalAddress });
      case 'AddAnyPortMapping':
      case 'AddPortMapping': {
        if (action === 'AddAnyPortMapping' && this.igdVersion !== 2) return fault(401, 'Invalid Action');
        const client = arg('NewInternalClient');
        // miniupnpd's secure_mode: a client may only map to itself.
        if (client !== remote.replace(/^::ffff:/, '')) return fault(606, 'Action not authorized');
        const ext = Number(arg('NewExternalPort'));
        const taken = this.mappings.get(this.key(protocol, ext));
        const internalPort = Number(arg('NewInternalPort'));
        if (action === 'AddPortMapping' && taken && (taken.internalAddress !== client || taken.internalPort !== internalPort)) return fault(718, 'ConflictInMappingEntry');
        const lease = Number(arg('NewLeaseDuration')) || this.maxLifetimeSec;
        const m = this.allocate('upnp', protocol, client, internalPort, action === 'AddPortMapping' ? ext : ext, lease);
        if (action === 'AddPortMapping' && m.externalPort !== ext) {
          this.mappings.delete(this.key(protocol, m.externalPort));
          return fault(718, 'ConflictInMappingEntry');
        }
        return action === 'AddAnyPortMapping' ? ok({ NewReservedPort: m.externalPort }) : ok({});
      }
      case 'DeletePortMapping': {
        const k = this.key(protocol, Number(arg('NewExternalPort')));
        if (!this.mappings.delete(k)) return fault(714, 'NoSuchEntryInArray');
        return ok({});
      }
      default:
        return fault(401, 'Invalid Action');
    }
  }

  private description(): string {
    const st = this.serviceType();
    return `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>1</minor></specVersion>
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:${this.igdVersion}</deviceType><friendlyName>Fake Gateway</friendlyName><modelName>fake</modelName>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:${this.igdVersion}</deviceType>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1</serviceType><serviceId>urn:upnp-org:serviceId:WANCommonIFC1</serviceId><controlURL>/ctl/CmnIfCfg</controlURL><eventSubURL>/evt/CmnIfCfg</eventSubURL><SCPDURL>/WANCfg.xml</SCPDURL></service></serviceList>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:${this.igdVersion}</deviceType>
<serviceList><service><serviceType>${st}</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId><controlURL>/ctl/IPConn</controlURL><eventSubURL>/evt/IPConn</eventSubURL><SCPDURL>/WANIPCn.xml</SCPDURL></service></serviceList>
</device></deviceList></device></deviceList></device></root>`;
  }
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { DecodeError } from '../../errors.ts';
import { parseDescription } from './description.ts';

const doc = (services: string, urlBase = ''): string =>
  `<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0">${urlBase}<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType><friendlyName>R &amp; D</friendlyName><deviceList><device><deviceList><device><serviceList>${services}</serviceList></device></deviceList></device></deviceList></device></root>`;
const svc = (type: string, url: string): string => `<service><serviceType>${type}</serviceType><controlURL>${url}</controlURL></service>`;

test('description: prefers WANIPConnection:2, resolves the control URL', () => {
  const xml = doc(svc('urn:schemas-upnp-org:service:WANIPConnection:1', '/ctl/v1') + svc('urn:schemas-upnp-org:service:WANIPConnection:2', '/ctl/v2'));
  const s = parseDescription(xml, 'http://192.168.1.1:5000/rootDesc.xml');
  assert.equal(s.serviceType, 'urn:schemas-upnp-org:service:WANIPConnection:2');
  assert.equal(s.controlUrl, 'http://192.168.1.1:5000/ctl/v2');
  assert.equal(s.version, 2);
  assert.equal(s.friendlyName, 'R & D');
});

test('description: URLBase, whitespace in URLs and PPP-only devices', () => {
  const xml = doc(svc('urn:schemas-upnp-org:service:WANPPPConnection:1', '\n  upnp/control/WANPPPConn1 \n'), '<URLBase>http://192.168.0.1:49000/</URLBase>');
  const s = parseDescription(xml, 'http://192.168.0.1:49000/igddesc.xml');
  assert.equal(s.controlUrl, 'http://192.168.0.1:49000/upnp/control/WANPPPConn1');
  assert.equal(s.version, 1);
});

test('description: no WAN service is a DecodeError', () => {
  assert.throws(() => parseDescription(doc(svc('urn:schemas-upnp-org:service:Layer3Forwarding:1', '/l3f')), 'http://10.0.0.1/'), DecodeError);
  assert.throws(() => parseDescription('garbage', 'http://10.0.0.1/'), DecodeError);
});

test('description: recorded real gateways (fixtures/*-rootDesc.xml)', () => {
  const dir = new URL('./fixtures/', import.meta.url);
  const files = readdirSync(dir).filter((f) => f.endsWith('-rootDesc.xml'));
  assert.ok(files.length > 0, 'no recorded description fixtures');
  for (const f of files) {
    const expected = JSON.parse(readFileSync(new URL(f.replace('.xml', '.expected.json'), dir), 'utf8')) as { url: string; serviceType: string; controlUrl: string };
    const s = parseDescription(readFileSync(new URL(f, dir), 'utf8'), expected.url);
    assert.equal(s.serviceType, expected.serviceType, f);
    assert.equal(s.controlUrl, expected.controlUrl, f);
  }
});

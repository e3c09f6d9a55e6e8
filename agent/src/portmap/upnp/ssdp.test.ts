import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../../errors.ts';
import { decodeSsdp, encodeMSearch, gatewayLocation, isSsdp } from './ssdp.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

test('ssdp: M-SEARCH golden text', () => {
  const text = new TextDecoder().decode(encodeMSearch('urn:schemas-upnp-org:device:InternetGatewayDevice:1', 2));
  assert.equal(text, 'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 2\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n');
  const back = decodeSsdp(encodeMSearch('x'));
  assert.equal(back.kind, 'search');
  assert.equal(back.headers.st, 'x');
});

test('ssdp: a miniupnpd-shaped response yields location, target and BOOTID', () => {
  const resp = enc(
    'HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n' +
      'USN: uuid:1-2::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nEXT:\r\nSERVER: Debian/12 UPnP/1.1 MiniUPnPd/2.3.1\r\n' +
      'LOCATION: http://192.168.1.1:5000/rootDesc.xml\r\nOPT: "http://schemas.upnp.org/upnp/1/0/"; ns=01\r\n01-NLS: 1\r\nBOOTID.UPNP.ORG: 1732540000\r\nCONFIGID.UPNP.ORG: 1337\r\n\r\n',
  );
  assert.ok(isSsdp(resp));
  const m = decodeSsdp(resp);
  assert.equal(m.kind, 'response');
  assert.equal(m.location, 'http://192.168.1.1:5000/rootDesc.xml');
  assert.equal(m.bootId, 1732540000);
  assert.equal(gatewayLocation(m, '192.168.1.1')?.port, '5000');
  // A reply naming another host, or https, is not followed.
  assert.equal(gatewayLocation(m, '192.168.1.9'), undefined);
  assert.equal(gatewayLocation({ ...m, location: 'file:///etc/passwd' }, '192.168.1.1'), undefined);
});

test('ssdp: NOTIFY carries NT and NTS', () => {
  const m = decodeSsdp(enc('NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\nLOCATION: http://10.0.0.1/x\r\n\r\n'));
  assert.equal(m.kind, 'notify');
  assert.equal(m.target, 'upnp:rootdevice');
  assert.equal(m.nts, 'ssdp:alive');
});

test('ssdp: junk throws DecodeError only', () => {
  assert.throws(() => decodeSsdp(enc('HTTP/1.1 404 Not Found\r\n\r\n')), DecodeError);
  assert.throws(() => decodeSsdp(new Uint8Array(9000)), DecodeError);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
      try {
        decodeSsdp(b);
      } catch (err) {
        assert.ok(err instanceof DecodeError);
      }
    }),
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DecodeError } from '../../errors.ts';
import { buildSoapRequest, parseSoapResponse, UPNP_ERROR } from './soap.ts';

const ST = 'urn:schemas-upnp-org:service:WANIPConnection:2';

test('soap: request carries SOAPAction and escapes every argument', () => {
  const r = buildSoapRequest(ST, 'AddPortMapping', [
    ['NewRemoteHost', ''],
    ['NewExternalPort', 51820],
    ['NewPortMappingDescription', 'a<b>&"c\'</NewPortMappingDescription><x>'],
  ]);
  assert.equal(r.headers.SOAPAction, `"${ST}#AddPortMapping"`);
  assert.match(r.body, /<NewExternalPort>51820<\/NewExternalPort>/);
  assert.match(r.body, /<NewPortMappingDescription>a&lt;b&gt;&amp;&quot;c&apos;&lt;\/NewPortMappingDescription&gt;&lt;x&gt;<\/NewPortMappingDescription>/);
  assert.match(r.body, new RegExp(`<u:AddPortMapping xmlns:u="${ST}">`));
});

test('soap: success response values by name (miniupnpd shape)', () => {
  const body =
    '<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>' +
    `<u:GetExternalIPAddressResponse xmlns:u="${ST}"><NewExternalIPAddress>203.0.113.5</NewExternalIPAddress></u:GetExternalIPAddressResponse></s:Body></s:Envelope>\r\n`;
  const r = parseSoapResponse(body, 'GetExternalIPAddress');
  assert.deepEqual(r, { ok: true, values: { NewExternalIPAddress: '203.0.113.5' } });
});

test('soap: a fault yields the UPnP error code', () => {
  const body =
    '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring>' +
    '<detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>718</errorCode><errorDescription>ConflictInMappingEntry</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>';
  assert.deepEqual(parseSoapResponse(body, 'AddPortMapping'), { ok: false, errorCode: UPNP_ERROR.CONFLICT_IN_MAPPING_ENTRY, errorDescription: 'ConflictInMappingEntry' });
});

test('soap: a body without the action response is a DecodeError', () => {
  assert.throws(() => parseSoapResponse('<html>nope</html>', 'X'), DecodeError);
  assert.throws(() => parseSoapResponse('<Envelope><Body><Other/></Body></Envelope>', 'X'), DecodeError);
});

test('soap: recorded miniupnpd 2.3.1 responses (fixtures/)', () => {
  const fx = (name: string): string => readFileSync(new URL(`./fixtures/miniupnpd-${name}.xml`, import.meta.url), 'utf8');
  assert.deepEqual(parseSoapResponse(fx('GetExternalIPAddress'), 'GetExternalIPAddress'), { ok: true, values: { NewExternalIPAddress: '203.0.113.100' } });
  assert.deepEqual(parseSoapResponse(fx('AddAnyPortMapping'), 'AddAnyPortMapping'), { ok: true, values: { NewReservedPort: '40000' } });
  assert.deepEqual(parseSoapResponse(fx('AddPortMapping-conflict'), 'AddPortMapping'), { ok: false, errorCode: 718, errorDescription: 'ConflictInMappingEntry' });
  assert.deepEqual(parseSoapResponse(fx('DeletePortMapping-missing'), 'DeletePortMapping'), { ok: true, values: {} });
});

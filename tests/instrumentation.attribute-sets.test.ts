// The frozen attribute sets the http server hands its duration measurement (see
// instrumentations/common/attributeSets.ts): one object per distinct set of values, in a fixed key
// order, bounded. The recorder registers a frozen object as a native attribute set on its first
// use and names it by id after that, so reusing the object is what makes the measurement cheap;
// these tests pin down that reuse.
import { AttributeSets } from '../instrumentations/common/attributeSets';
import type { IncomingMessage } from 'node:http';
import { connectionAttributes, rememberedRouteNames, routeSpanName } from '../instrumentations/http/server';

const KEYS = ['http.request.method', 'url.scheme', 'network.protocol.version', 'http.response.status_code', 'error.type', 'http.route'];

describe('AttributeSets', () => {
  test('the same values give the same frozen object; any different value gives another', () => {
    const sets = new AttributeSets(KEYS, 5);
    const a = sets.get('GET', 'http', '1.1', 200, undefined, '/users/:id');
    // Values equal by content (a fresh string, as the parser makes per request) find the same set.
    const b = sets.get('GET', 'http', ['1', '1'].join('.'), 200, undefined, `/users/${':id'}`);
    expect(b).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    expect(Object.entries(a)).toEqual([
      ['http.request.method', 'GET'],
      ['url.scheme', 'http'],
      ['network.protocol.version', '1.1'],
      ['http.response.status_code', 200],
      ['http.route', '/users/:id'],
    ]);
    const others = [
      sets.get('POST', 'http', '1.1', 200, undefined, '/users/:id'),
      sets.get('GET', 'https', '1.1', 200, undefined, '/users/:id'),
      sets.get('GET', 'http', '2', 200, undefined, '/users/:id'),
      sets.get('GET', 'http', '1.1', 500, '500', '/users/:id'),
      sets.get('GET', 'http', '1.1', 200, undefined, '/other'),
      sets.get('GET', 'http', '1.1', 200, undefined, undefined),
    ];
    expect(new Set([a, ...others]).size).toBe(7);
    expect(others[3]).toEqual({ ...a, 'http.response.status_code': 500, 'error.type': '500' });
    expect(Object.keys(others[3])).toEqual(KEYS);
    expect(others[5]).not.toHaveProperty('http.route');
    expect(sets.get('GET', 'http', '1.1', 200, undefined, undefined)).toBe(others[5]);
  });

  test('bounded: past the limits, fresh unfrozen objects with the same contents', () => {
    const sets = new AttributeSets(KEYS, 5);
    // 32 sets per route value.
    const kept = [];
    for (let s = 0; s < 32; s++) kept.push(sets.get('GET', 'http', '1.1', 200 + s, undefined, '/r'));
    const extra = sets.get('GET', 'http', '1.1', 299, undefined, '/r');
    expect(Object.isFrozen(extra)).toBe(false);
    expect(sets.get('GET', 'http', '1.1', 299, undefined, '/r')).not.toBe(extra);
    expect(sets.get('GET', 'http', '1.1', 299, undefined, '/r')).toEqual(extra);
    expect(sets.get('GET', 'http', '1.1', 200, undefined, '/r')).toBe(kept[0]);
    // 1024 route values.
    for (let r = 0; r < 1100; r++) sets.get('GET', 'http', '1.1', 200, undefined, `/route/${r}`);
    const late = sets.get('GET', 'http', '1.1', 200, undefined, '/route/1099');
    expect(Object.isFrozen(late)).toBe(false);
    expect(late).toEqual({ 'http.request.method': 'GET', 'url.scheme': 'http', 'network.protocol.version': '1.1', 'http.response.status_code': 200, 'http.route': '/route/1099' });
    expect(sets.get('GET', 'http', '1.1', 200, undefined, '/route/5')).toBe(sets.get('GET', 'http', '1.1', 200, undefined, '/route/5'));
  });

  test('at most six keys', () => {
    expect(() => new AttributeSets(['a', 'b', 'c', 'd', 'e', 'f', 'g'], 0)).toThrow(RangeError);
  });
});

// The server span's name once the route is known, remembered per method and route (so that the
// recorder's name cache meets the same string object every request, not a fresh one to hash), and
// bounded. (JavaScript cannot tell two equal strings apart, so what is checked is the content and
// what is remembered.)
describe('routeSpanName', () => {
  test('"{method} {route}", remembered once per method and route', () => {
    const route = ['/users', ':id'].join('/');
    expect(routeSpanName('GET', route)).toBe('GET /users/:id');
    expect(rememberedRouteNames('GET')).toBe(1);
    // A route equal by content (another string object) is the same entry.
    expect(routeSpanName('GET', `/users/${':id'}`)).toBe('GET /users/:id');
    expect(rememberedRouteNames('GET')).toBe(1);
    expect(routeSpanName('POST', route)).toBe('POST /users/:id');
    expect(routeSpanName('HTTP', '/')).toBe('HTTP /');
    expect([rememberedRouteNames('GET'), rememberedRouteNames('POST'), rememberedRouteNames('HTTP')]).toEqual([1, 1, 1]);
  });

  test('bounded per method: past 1,024 routes the name is still right, only not remembered', () => {
    for (let i = 0; i < 1100; i++) expect(routeSpanName('PATCH', `/r${i}`)).toBe(`PATCH /r${i}`);
    expect(rememberedRouteNames('PATCH')).toBe(1024);
    expect(routeSpanName('PATCH', '/r1099')).toBe('PATCH /r1099');
    expect(routeSpanName('PATCH', '/r5')).toBe('PATCH /r5');
    expect(rememberedRouteNames('PATCH')).toBe(1024);
    // Another method has its own room.
    expect(routeSpanName('DELETE', '/r1099')).toBe('DELETE /r1099');
    expect(rememberedRouteNames('DELETE')).toBe(1);
  });
});

describe("connectionAttributes (a keep-alive connection's part of its server spans' attributes)", () => {
  /** A request as the server sees it: its headers (fresh strings each time, as the parser makes them) and socket. */
  function request(socket: object | null, headers: Record<string, string>): IncomingMessage {
    const fresh = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [...v].join('')]));
    return { headers: fresh, socket } as unknown as IncomingMessage;
  }
  const call = (req: IncomingMessage, version = '1.1', scheme: 'http' | 'https' = 'http'): object => connectionAttributes(req, req.headers, version, scheme);

  test('one object while the values repeat, frozen from the second request on; a new one when any changes', () => {
    const socket = { remoteAddress: '10.1.2.3', remotePort: 50000 };
    const headers = { host: 'shop:8080', 'user-agent': 'ua', 'x-forwarded-for': '1.2.3.4', 'x-forwarded-host': 'front', forwarded: 'proto=http' };
    const first = call(request(socket, headers));
    expect(Object.isFrozen(first)).toBe(false);
    expect(first).toEqual({
      'url.scheme': 'http',
      'server.address': 'front',
      'server.port': 80,
      'client.address': '1.2.3.4',
      'network.peer.address': '10.1.2.3',
      'network.peer.port': 50000,
      'network.protocol.version': '1.1',
      'user_agent.original': 'ua',
    });
    const second = call(request(socket, headers));
    expect(second).toBe(first);
    expect(Object.isFrozen(second)).toBe(true);
    expect(call(request(socket, headers))).toBe(first);
    // Each value the attributes come from, changed alone, makes a new object.
    const changed = [
      call(request(socket, { ...headers, host: 'other:8080' }), '1.1'),
      call(request(socket, { ...headers, 'user-agent': 'ua2' })),
      call(request(socket, { ...headers, 'x-forwarded-for': '5.6.7.8' })),
      call(request(socket, { ...headers, 'x-forwarded-host': 'front2' })),
      call(request(socket, { ...headers, forwarded: 'for=9.9.9.9' })),
      call(request(socket, headers), '1.0'),
      call(request(socket, headers), '1.1', 'https'),
    ];
    for (const c of changed) expect(c).not.toBe(first);
    expect(changed[2]).toMatchObject({ 'client.address': '5.6.7.8' });
    expect(changed[4]).toMatchObject({ 'client.address': '9.9.9.9' });
    expect(changed[5]).toMatchObject({ 'network.protocol.version': '1.0' });
    expect(changed[6]).toMatchObject({ 'url.scheme': 'https', 'server.port': 443 });
    // The connection now remembers the last: back to the first values is another new object.
    const again = call(request(socket, headers));
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
    // Another connection never shares it; a request without a socket gets a new object each time.
    expect(call(request({ remoteAddress: '10.1.2.3', remotePort: 50001 }, headers))).not.toBe(again);
    const loose = [call(request(null, headers)), call(request(null, headers))];
    expect(loose[0]).not.toBe(loose[1]);
    expect(loose[0]).not.toHaveProperty('network.peer.address');
  });
});

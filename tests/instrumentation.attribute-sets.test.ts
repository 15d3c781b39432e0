// The frozen attribute sets the http server hands its duration measurement (see
// instrumentations/common/attributeSets.ts): one object per distinct set of values, in a fixed key
// order, bounded. The recorder registers a frozen object as a native attribute set on its first
// use and names it by id after that, so reusing the object is what makes the measurement cheap;
// these tests pin down that reuse.
import { AttributeSets } from '../instrumentations/common/attributeSets';

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

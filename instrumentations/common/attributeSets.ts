/**
 * Frozen attribute objects for measurements, one per distinct set of values.
 *
 * A request-duration measurement carries the same few attributes (method, scheme, status, route...)
 * for almost every request. Handing the recorder the same frozen object each time lets it encode
 * the set once and name it by id afterwards (a frozen object becomes a native attribute set, see
 * `_attributes` in index.js), instead of encoding every key and value per request; and no attribute
 * object is allocated per request.
 *
 * Sets are looked up by one of their values (the most varied, e.g. the route), then compared value
 * by value. The cache is bounded: past its limits a fresh, unfrozen object is returned, which the
 * recorder encodes as usual.
 */
import type { Attributes } from '@opentelemetry/api';

/** A value of a cached set; `undefined` leaves its key out. */
export type SetValue = string | number | undefined;

interface Entry {
  readonly v0: SetValue;
  readonly v1: SetValue;
  readonly v2: SetValue;
  readonly v3: SetValue;
  readonly v4: SetValue;
  readonly v5: SetValue;
  readonly attributes: Attributes;
}

/** Distinct sets kept per look-up value, and look-up values kept, at most. */
const MAX_PER_VALUE = 32;
const MAX_VALUES = 1024;

/** Up to six attributes, in a fixed key order; see the module comment. */
export class AttributeSets {
  private readonly sets = new Map<SetValue, Entry[]>();

  /**
   * @param keys the attribute keys, in the order the objects list them (at most six)
   * @param lookup the index of the value sets are looked up by
   */
  constructor(
    private readonly keys: readonly string[],
    private readonly lookup: number,
  ) {
    if (keys.length > 6) throw new RangeError(`at most 6 keys, got ${keys.length}`);
  }

  /** The attributes with each value under its key (`undefined` values left out); frozen when cached. */
  get(v0: SetValue, v1: SetValue, v2: SetValue, v3: SetValue, v4: SetValue, v5: SetValue): Attributes {
    const at = this.lookup;
    const by = at === 0 ? v0 : at === 1 ? v1 : at === 2 ? v2 : at === 3 ? v3 : at === 4 ? v4 : v5;
    let list = this.sets.get(by);
    if (list !== undefined) {
      for (let i = 0; i < list.length; i++) {
        const e = list[i]!;
        if (e.v0 === v0 && e.v1 === v1 && e.v2 === v2 && e.v3 === v3 && e.v4 === v4 && e.v5 === v5) return e.attributes;
      }
    }
    const attributes = this.build(v0, v1, v2, v3, v4, v5);
    if (list === undefined) {
      if (this.sets.size >= MAX_VALUES) return attributes;
      list = [];
      this.sets.set(by, list);
    }
    if (list.length >= MAX_PER_VALUE) return attributes;
    Object.freeze(attributes);
    list.push({ v0, v1, v2, v3, v4, v5, attributes });
    return attributes;
  }

  private build(v0: SetValue, v1: SetValue, v2: SetValue, v3: SetValue, v4: SetValue, v5: SetValue): Attributes {
    const keys = this.keys;
    const values = [v0, v1, v2, v3, v4, v5];
    const out: Attributes = {};
    for (let i = 0; i < keys.length; i++) {
      const v = values[i];
      if (v !== undefined) out[keys[i]!] = v;
    }
    return out;
  }
}

/**
 * The six standard samplers. A sampler only decides "record and sample" or "drop": the
 * standard samplers never ask for "record only", so a dropped span is a non-recording span.
 */

import type { SamplerName } from './config';

/** What a sampler needs of a parent span: its trace flags (bit 0: sampled). */
export interface SampledParent {
  readonly traceFlags: number;
}

/** Decides whether a new span is sampled. */
export interface Sampler {
  /**
   * @param traceId - the new span's trace id (its parent's, or a new one for a root): 32 hex
   *   characters, or its 16 bytes.
   * @param parent - the valid parent span context (or just its flags), if any.
   * @returns true to record and sample the span.
   */
  shouldSample(traceId: string | Uint8Array, parent: SampledParent | undefined): boolean;
  /** The specification's description, e.g. `ParentBased{root=AlwaysOnSampler,...}`. */
  toString(): string;
}

const alwaysOn: Sampler = { shouldSample: () => true, toString: () => 'AlwaysOnSampler' };
const alwaysOff: Sampler = { shouldSample: () => false, toString: () => 'AlwaysOffSampler' };

/** 2^56: the trace id's last 7 bytes (the W3C "random" part) give a number in [0, 2^56). */
const RANGE = 72057594037927936;

/** Samples a fixed share of traces, decided from the trace id so every process agrees. */
export function traceIdRatio(ratio: number): Sampler {
  const r = Math.min(1, Math.max(0, ratio));
  const threshold = r * RANGE;
  return {
    shouldSample(traceId: string | Uint8Array): boolean {
      if (r >= 1) return true;
      if (r <= 0) return false;
      // The low 56 bits of the trace id (hex characters 18-32, bytes 9-15).
      let hi: number, lo: number;
      if (typeof traceId === 'string') {
        hi = parseInt(traceId.slice(18, 24), 16);
        lo = parseInt(traceId.slice(24, 32), 16);
      } else {
        hi = (traceId[9]! << 16) | (traceId[10]! << 8) | traceId[11]!;
        lo = ((traceId[12]! << 24) | (traceId[13]! << 16) | (traceId[14]! << 8) | traceId[15]!) >>> 0;
      }
      return hi * 4294967296 + lo < threshold;
    },
    toString: () => `TraceIdRatioBased{${r}}`,
  };
}

/** Follows the parent's sampled flag; uses `root` for spans without a parent. */
export function parentBased(root: Sampler): Sampler {
  return {
    shouldSample(traceId: string | Uint8Array, parent: SampledParent | undefined): boolean {
      if (parent === undefined) return root.shouldSample(traceId, undefined);
      return (parent.traceFlags & 1) === 1;
    },
    toString: () =>
      `ParentBased{root=${root.toString()}, remoteParentSampled=AlwaysOnSampler, remoteParentNotSampled=AlwaysOffSampler, localParentSampled=AlwaysOnSampler, localParentNotSampled=AlwaysOffSampler}`,
  };
}

/** The sampler for an `OTEL_TRACES_SAMPLER` name and ratio. */
export function createSampler(name: SamplerName, ratio: number): Sampler {
  switch (name) {
    case 'always_on':
      return alwaysOn;
    case 'always_off':
      return alwaysOff;
    case 'traceidratio':
      return traceIdRatio(ratio);
    case 'parentbased_always_off':
      return parentBased(alwaysOff);
    case 'parentbased_traceidratio':
      return parentBased(traceIdRatio(ratio));
    case 'parentbased_always_on':
    default:
      return parentBased(alwaysOn);
  }
}

/**
 * `otlp-mmap inspect FILE`: the header, rings, drop counters and dictionary of
 * a file, through the native reader; `--follow` prints decoded messages.
 */
import type { NativeReader, RingName } from './native';

const RINGS: RingName[] = ['events', 'spans', 'measurements'];

function iso(ns: bigint): string {
  if (ns === 0n) return '(zero)';
  return `${new Date(Number(ns / 1_000_000n)).toISOString()} (${ns} ns)`;
}

/** Renders the header summary. */
export function formatHeader(path: string, reader: NativeReader): string {
  const h = reader.header();
  let alive: string;
  try {
    alive = reader.writerAlive() ? 'alive (holds the lock)' : 'gone (no lock held)';
  } catch (e) {
    alive = `unknown (${(e as Error).message})`;
  }
  const lines = [
    `file        ${path}`,
    `version     ${h.version}`,
    `started     ${iso(h.startTimeUnixNano)}`,
    `size        ${h.fileBytes} bytes`,
    `writer      ${alive}`,
    '',
    `ring          offset      slots  slot size   reader idx   writer idx   waiting   fill     dropped`,
  ];
  for (const r of RINGS) {
    const ring = h.rings[r];
    const waiting = Math.max(0, ring.writerIndex - ring.readerIndex);
    const fill = ring.slots > 0 ? ((100 * waiting) / ring.slots).toFixed(1) : '0.0';
    lines.push(
      `${r.padEnd(12)}  ${String(ring.offset).padStart(8)}  ${String(ring.slots).padStart(7)}  ${String(ring.slotSize).padStart(9)}  ${String(ring.readerIndex).padStart(11)}  ${String(ring.writerIndex).padStart(11)}  ${String(waiting).padStart(8)}  ${`${fill}%`.padStart(6)}  ${String(h.dropped[r]).padStart(10)}`,
    );
  }
  const used = h.dictionary.end - h.dictionary.offset;
  lines.push('', `dictionary  offset ${h.dictionary.offset}, ${used} bytes used, ${h.dictionary.entries} entries`);
  return lines.join('\n');
}

/** JSON with bigint as strings and bytes as hex. */
export function messageToJson(m: unknown): string {
  return JSON.stringify(m, (_k, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
    return v;
  });
}

/**
 * Prints messages as they arrive until the writer exits and the rings are
 * empty, or until `signal` aborts.
 */
export async function follow(reader: NativeReader, intervalMs: number, write: (s: string) => void, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    let n = 0;
    for (const ring of RINGS) {
      for (const m of reader.read(ring, 1000)) {
        n++;
        write(`${messageToJson(m)}\n`);
      }
    }
    if (n > 0) continue;
    if (!reader.writerAlive()) {
      // One last pass: the writer may have published just before exiting.
      for (const ring of RINGS) for (const m of reader.read(ring, 100_000)) write(`${messageToJson(m)}\n`);
      return;
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, intervalMs);
      signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      }, { once: true });
    });
  }
}

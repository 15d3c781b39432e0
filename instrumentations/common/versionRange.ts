/**
 * A version range of the form `>=A.B.C <X.Y.Z`: the only form the instrumentations
 * here declare. Pre-release versions are outside every range.
 */
export class VersionRange {
  private readonly min: readonly number[];
  private readonly maxExclusive: readonly number[];

  /**
   * @param text the range, for example `>=4.0.0 <6.0.0`; it is shown in diag messages.
   * @throws Error when the text is not of that form (a programming error here).
   */
  constructor(readonly text: string) {
    const match = /^>=(\d+\.\d+\.\d+) <(\d+\.\d+\.\d+)$/.exec(text);
    if (!match) throw new Error(`version range must look like ">=4.0.0 <6.0.0", got ${JSON.stringify(text)}`);
    this.min = match[1].split('.').map(Number);
    this.maxExclusive = match[2].split('.').map(Number);
  }

  /** Whether `version` (a plain `major.minor.patch`) is inside the range. */
  includes(version: string | undefined): boolean {
    if (version === undefined) return false;
    const match = /^v?(\d+)\.(\d+)\.(\d+)$/.exec(version.trim());
    if (!match) return false;
    const parts = [Number(match[1]), Number(match[2]), Number(match[3])];
    return compare(parts, this.min) >= 0 && compare(parts, this.maxExclusive) < 0;
  }
}

function compare(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < 3; i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return 0;
}

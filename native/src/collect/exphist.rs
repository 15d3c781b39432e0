//! The base-2 exponential histogram of the OpenTelemetry specification
//! (`ExponentialHistogramDataPoint`): values map to buckets with boundaries
//! `base^i < |v| <= base^(i+1)`, `base = 2^(2^-scale)`. The scale starts at
//! `max_scale` and goes down as far as needed to keep each side's index range
//! within `max_buckets`.

/// Lowest scale: at -10 every finite double falls into one of three buckets.
pub const MIN_SCALE: i32 = -10;
/// Highest scale the specification allows.
pub const MAX_SCALE: i32 = 20;
/// The specification's default `max_size`.
pub const DEFAULT_MAX_BUCKETS: usize = 160;
/// Upper bound on `max_buckets` accepted from a file.
pub const MAX_MAX_BUCKETS: usize = 16384;

/// The base-2 exponent `e` with `v` in `[2^e, 2^(e+1))`, and whether `v == 2^e`,
/// for a finite `v > 0` (normal or subnormal).
fn exponent(v: f64) -> (i64, bool) {
    let bits = v.to_bits();
    let raw = ((bits >> 52) & 0x7ff) as i64;
    let mant = bits & ((1u64 << 52) - 1);
    if raw == 0 {
        // subnormal: v = mant * 2^-1074
        let p = 63 - mant.leading_zeros() as i64;
        (p - 1074, mant.is_power_of_two())
    } else {
        (raw - 1023, mant == 0)
    }
}

/// The bucket index of a finite `v > 0` at `scale`.
pub fn map_to_index(v: f64, scale: i32) -> i64 {
    let (e, pow2) = exponent(v);
    if scale <= 0 {
        let e = if pow2 { e - 1 } else { e };
        return e >> (-scale);
    }
    if pow2 {
        return (e << scale) - 1;
    }
    let factor = std::f64::consts::LOG2_E * (1u64 << scale) as f64;
    let idx = (v.ln() * factor).floor() as i64;
    // v lies strictly between 2^e and 2^(e+1): keep the index inside that octave
    // even where the logarithm rounds the wrong way.
    idx.clamp(e << scale, ((e + 1) << scale) - 1)
}

/// One side's buckets: `counts[k]` is the count of index `start + k`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Buckets {
    pub start: i64,
    pub counts: Vec<u64>,
}

impl Buckets {
    fn end(&self) -> i64 {
        self.start + self.counts.len() as i64 - 1
    }

    fn increment(&mut self, idx: i64) {
        if self.counts.is_empty() {
            self.start = idx;
            self.counts.push(1);
            return;
        }
        if idx < self.start {
            let grow = (self.start - idx) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0u64, grow));
            self.start = idx;
        } else if idx > self.end() {
            let new_len = (idx - self.start + 1) as usize;
            self.counts.resize(new_len, 0);
        }
        self.counts[(idx - self.start) as usize] += 1;
    }

    fn downscale(&mut self, by: u32) {
        if by == 0 || self.counts.is_empty() {
            return;
        }
        let new_start = self.start >> by;
        let new_end = self.end() >> by;
        let mut counts = vec![0u64; (new_end - new_start + 1) as usize];
        for (k, &c) in self.counts.iter().enumerate() {
            let i = (self.start + k as i64) >> by;
            counts[(i - new_start) as usize] += c;
        }
        self.start = new_start;
        self.counts = counts;
    }
}

/// An exponential histogram accumulation.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpHistogram {
    pub max_buckets: usize,
    pub max_scale: i32,
    pub scale: i32,
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub zero_count: u64,
    pub positive: Buckets,
    pub negative: Buckets,
}

impl ExpHistogram {
    /// `max_scale` is clamped to `[-10, 20]`, `max_buckets` to `[2, 16384]`.
    pub fn new(max_buckets: usize, max_scale: i32) -> Self {
        let max_scale = max_scale.clamp(MIN_SCALE, MAX_SCALE);
        ExpHistogram {
            max_buckets: max_buckets.clamp(2, MAX_MAX_BUCKETS),
            max_scale,
            scale: max_scale,
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            zero_count: 0,
            positive: Buckets::default(),
            negative: Buckets::default(),
        }
    }

    /// Records a finite value (the caller filters NaN and infinities).
    pub fn record(&mut self, v: f64) {
        self.count += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if v == 0.0 {
            self.zero_count += 1;
            return;
        }
        let mut idx = map_to_index(v.abs(), self.scale);
        let side = if v > 0.0 { &self.positive } else { &self.negative };
        let (lo, hi) = if side.counts.is_empty() { (idx, idx) } else { (side.start.min(idx), side.end().max(idx)) };
        let mut by = 0u32;
        while (hi >> by) - (lo >> by) + 1 > self.max_buckets as i64 && self.scale - (by as i32) > MIN_SCALE {
            by += 1;
        }
        if by > 0 {
            self.scale -= by as i32;
            self.positive.downscale(by);
            self.negative.downscale(by);
            idx >>= by;
        }
        if v > 0.0 {
            self.positive.increment(idx);
        } else {
            self.negative.increment(idx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_powers_of_two_to_the_bucket_below() {
        assert_eq!(map_to_index(1.0, 0), -1);
        assert_eq!(map_to_index(2.0, 0), 0);
        assert_eq!(map_to_index(3.0, 0), 1);
        assert_eq!(map_to_index(4.0, 0), 1);
        assert_eq!(map_to_index(1.0, 20), -1);
        assert_eq!(map_to_index(2.0, 20), (1 << 20) - 1);
        assert_eq!(map_to_index(4.0, 1), 3);
        // sqrt(2) is the boundary between buckets 0 and 1 at scale 1
        assert_eq!(map_to_index(1.5, 1), 1);
        assert_eq!(map_to_index(1.2, 1), 0);
        assert_eq!(map_to_index(8.0, -1), 1); // 2^3 -> exponent 2 -> 2 >> 1
        assert_eq!(map_to_index(f64::MIN_POSITIVE / 4.0, 0), -1025);
        assert_eq!(map_to_index(f64::MAX, MIN_SCALE), 0);
        assert_eq!(map_to_index(5e-324, MIN_SCALE), -2);
    }

    #[test]
    fn downscales_1_2_4_from_scale_20_into_4_buckets() {
        let mut h = ExpHistogram::new(4, 20);
        for v in [1.0, 2.0, 4.0] {
            h.record(v);
        }
        assert_eq!(h.scale, 0);
        assert_eq!(h.positive, Buckets { start: -1, counts: vec![1, 1, 1] });
        assert_eq!((h.count, h.sum, h.min, h.max, h.zero_count), (3, 7.0, 1.0, 4.0, 0));
    }

    #[test]
    fn uses_exactly_max_buckets_before_downscaling() {
        let mut h = ExpHistogram::new(4, 0);
        for v in [1.0, 2.0, 4.0, 8.0] {
            h.record(v);
        }
        assert_eq!((h.scale, h.positive.clone()), (0, Buckets { start: -1, counts: vec![1, 1, 1, 1] }));
        h.record(16.0);
        assert_eq!((h.scale, h.positive.clone()), (-1, Buckets { start: -1, counts: vec![1, 2, 2] }));
    }

    #[test]
    fn keeps_scale_20_for_a_single_value_and_counts_zeros_and_negatives() {
        let mut h = ExpHistogram::new(160, 20);
        h.record(0.0);
        h.record(-3.0);
        h.record(3.0);
        assert_eq!(h.scale, 20);
        assert_eq!(h.zero_count, 1);
        let i = map_to_index(3.0, 20);
        assert_eq!(h.positive, Buckets { start: i, counts: vec![1] });
        assert_eq!(h.negative, Buckets { start: i, counts: vec![1] });
        assert_eq!((h.count, h.sum, h.min, h.max), (3, 0.0, -3.0, 3.0));
    }

    #[test]
    fn a_wide_range_stays_within_max_buckets() {
        let mut h = ExpHistogram::new(160, 20);
        let mut v = 1e-300;
        while v < 1e300 {
            h.record(v);
            h.record(-v);
            v *= 3.7;
        }
        assert!(h.positive.counts.len() <= 160 && h.negative.counts.len() <= 160);
        assert_eq!(h.positive.counts.iter().sum::<u64>() + h.negative.counts.iter().sum::<u64>(), h.count);
        // every value is inside its bucket at the final scale
        let base = 2f64.powf(2f64.powi(-h.scale));
        let lo = base.powi(h.positive.start as i32);
        assert!(lo < 1e-300);
    }
}

#[cfg(test)]
mod js_sdk_comparison {
    use super::*;

    /// The same generator and values as the JavaScript snippet that produced the
    /// expected output with `@opentelemetry/sdk-metrics` 2.x's
    /// `ExponentialHistogramAccumulation` (max scale 20).
    fn run(max_size: usize, n: usize, s: &mut u64) -> String {
        let mut h = ExpHistogram::new(max_size, 20);
        for _ in 0..n {
            *s ^= *s << 13;
            *s ^= *s >> 7;
            *s ^= *s << 17;
            let r = *s;
            let mant = (r % 100_000) as f64 / 1000.0 + 0.001;
            let exp = ((r >> 20) % 60) as i32 - 30;
            let sign = if (r >> 40).is_multiple_of(5) { -1.0 } else { 1.0 };
            h.record(sign * mant * 2f64.powi(exp));
        }
        let join = |b: &Buckets| b.counts.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        let off = |b: &Buckets| if b.counts.is_empty() { 0 } else { b.start };
        format!("{max_size} scale={} zero={} count={} pos={}:{} neg={}:{}", h.scale, h.zero_count, h.count, off(&h.positive), join(&h.positive), off(&h.negative), join(&h.negative))
    }

    #[test]
    fn matches_the_opentelemetry_js_sdk_on_random_values() {
        let mut s = 12345u64;
        let got: Vec<String> = [(160, 1000), (4, 50), (20, 500), (2, 30)].iter().map(|&(m, n)| run(m, n, &mut s)).collect();
        let want = include_str!("exphist_js_sdk.txt");
        assert_eq!(got.join("\n"), want.trim_end());
    }
}

//! Hand-written OTLP protobuf encoding (field numbers of opentelemetry-proto:
//! `common/v1`, `resource/v1`, `trace/v1`, `logs/v1`, `metrics/v1` and the
//! `collector/*/v1` export requests).
//!
//! Resources and scopes are encoded once per dictionary entry; spans, log records
//! and metrics are encoded as they are finished. [`encode_grouped`] wraps them in an
//! export request grouped by resource, then scope.

use super::resolve::{KeyValue, ScopeInfo, Value};
use crate::file::layout::varint_len;
use crate::wire::encode::{Enc, WT_I64, WT_LEN};
use std::collections::HashMap;
use std::sync::Arc;

/// Writes `v` as an `AnyValue` message body.
pub fn any_value_body(e: &mut Enc, v: &Value) {
    match v {
        Value::Empty => {}
        Value::Str(s) => e.bytes_always(1, s.as_bytes()),
        Value::Bool(b) => e.bool_always(2, *b),
        Value::Int(i) => e.int64_always(3, *i),
        Value::Double(d) => e.double_always(4, *d),
        Value::Array(vals) => {
            let a = e.begin(5);
            for x in vals {
                let s = e.begin(1);
                any_value_body(e, x);
                e.end(s);
            }
            e.end(a);
        }
        Value::KvList(kvs) => {
            let a = e.begin(6);
            for kv in kvs {
                key_value(e, 1, kv);
            }
            e.end(a);
        }
        Value::Bytes(b) => e.bytes_always(7, b),
    }
}

/// The encoded length of `v` as an `AnyValue` body, for values without nested
/// messages (`None` for arrays and key/value lists).
fn flat_value_len(v: &Value) -> Option<usize> {
    Some(match v {
        Value::Empty => 0,
        Value::Str(s) => 1 + varint_len(s.len() as u64) + s.len(),
        Value::Bool(_) => 2,
        Value::Int(i) => 1 + varint_len(*i as u64),
        Value::Double(_) => 9,
        Value::Bytes(b) => 1 + varint_len(b.len() as u64) + b.len(),
        Value::Array(_) | Value::KvList(_) => return None,
    })
}

/// Writes `kv` as a `KeyValue` message in field `field`. A flat value's lengths
/// are known up front, so nothing is moved to insert them afterwards.
pub fn key_value(e: &mut Enc, field: u32, kv: &KeyValue) {
    match flat_value_len(&kv.value) {
        Some(value_len) => {
            let key = kv.key.len();
            e.tag(field, WT_LEN);
            e.varint((1 + varint_len(key as u64) + key + 1 + varint_len(value_len as u64) + value_len) as u64);
            flat_key_value_body(e, kv, value_len);
        }
        None => {
            let s = e.begin(field);
            key_value_body(e, kv);
            e.end(s);
        }
    }
}

/// Writes the body of a `KeyValue` message (key = 1, value = 2).
pub fn key_value_body(e: &mut Enc, kv: &KeyValue) {
    match flat_value_len(&kv.value) {
        Some(value_len) => flat_key_value_body(e, kv, value_len),
        None => {
            e.bytes_always(1, kv.key.as_bytes());
            let s = e.begin(2);
            any_value_body(e, &kv.value);
            e.end(s);
        }
    }
}

/// [`key_value_body`] for a flat value whose `AnyValue` body is `value_len` bytes.
#[inline(always)]
fn flat_key_value_body(e: &mut Enc, kv: &KeyValue, value_len: usize) {
    e.bytes_always(1, kv.key.as_bytes());
    e.tag(2, WT_LEN);
    e.varint(value_len as u64);
    any_value_body(e, &kv.value);
}

/// Writes each attribute as a `KeyValue` in field `field`.
pub fn attributes(e: &mut Enc, field: u32, kvs: &[KeyValue]) {
    for kv in kvs {
        key_value(e, field, kv);
    }
}

/// `sfixed64` field written even when zero (inside a oneof).
pub fn sfixed64_always(e: &mut Enc, field: u32, v: i64) {
    e.tag(field, WT_I64);
    e.buf.extend_from_slice(&v.to_le_bytes());
}

/// `fixed64` field written even when zero.
pub fn fixed64_always(e: &mut Enc, field: u32, v: u64) {
    e.tag(field, WT_I64);
    e.buf.extend_from_slice(&v.to_le_bytes());
}

/// `sint32` field (zigzag), omitted when zero.
pub fn sint32(e: &mut Enc, field: u32, v: i32) {
    if v != 0 {
        e.tag(field, 0);
        e.varint(((v << 1) ^ (v >> 31)) as u32 as u64);
    }
}

/// Packed `repeated fixed64`.
pub fn packed_fixed64(e: &mut Enc, field: u32, vals: &[u64]) {
    if vals.is_empty() {
        return;
    }
    e.tag(field, WT_LEN);
    e.varint((vals.len() * 8) as u64);
    for v in vals {
        e.buf.extend_from_slice(&v.to_le_bytes());
    }
}

/// Packed `repeated double`.
pub fn packed_double(e: &mut Enc, field: u32, vals: &[f64]) {
    if vals.is_empty() {
        return;
    }
    e.tag(field, WT_LEN);
    e.varint((vals.len() * 8) as u64);
    for v in vals {
        e.buf.extend_from_slice(&v.to_le_bytes());
    }
}

/// Packed `repeated uint64` (varints).
pub fn packed_uint64(e: &mut Enc, field: u32, vals: &[u64]) {
    if vals.is_empty() {
        return;
    }
    let len: usize = vals.iter().map(|&v| varint_len(v)).sum();
    e.tag(field, WT_LEN);
    e.varint(len as u64);
    for &v in vals {
        e.varint(v);
    }
}

/// Size of a length-delimited field with a one-byte tag (field numbers below 16).
fn field_len(n: usize) -> usize {
    1 + varint_len(n as u64) + n
}

fn put_field(out: &mut Vec<u8>, field: u32, len: usize) {
    let mut e = Enc::new(out);
    e.tag(field, WT_LEN);
    e.varint(len as u64);
}

/// An encoded item (a `Span`, a `LogRecord` or a `Metric`) with the scope it belongs to.
pub struct Item {
    pub scope: Arc<ScopeInfo>,
    pub bytes: Vec<u8>,
}

/// Items of one resource: the index of its first item, then per scope the index
/// of the scope's first item and all its items.
struct ResourceGroup {
    first: usize,
    scopes: Vec<(usize, Vec<usize>)>,
    scope_index: HashMap<i64, usize>,
}

/// Encodes an export request (`ExportTraceServiceRequest`, `ExportLogsServiceRequest`
/// or `ExportMetricsServiceRequest`: their field numbers coincide) holding `items`,
/// grouped by resource (`resource_*` = 1, `resource` = 1), then by scope
/// (`scope_*` = 2, `scope` = 1), with the items in field 2, in order of first appearance.
pub fn encode_grouped(items: &[Item]) -> Vec<u8> {
    // resource groups -> scope groups -> item indices
    let mut res_index: HashMap<i64, usize> = HashMap::new();
    let mut groups: Vec<ResourceGroup> = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let r = it.scope.resource.resource_ref;
        let gi = *res_index.entry(r).or_insert_with(|| {
            groups.push(ResourceGroup { first: i, scopes: Vec::new(), scope_index: HashMap::new() });
            groups.len() - 1
        });
        let g = &mut groups[gi];
        let si = *g.scope_index.entry(it.scope.scope_ref).or_insert_with(|| {
            g.scopes.push((i, Vec::new()));
            g.scopes.len() - 1
        });
        g.scopes[si].1.push(i);
    }
    // sizes first, so every length prefix is written once
    let mut total = 0usize;
    let mut sizes: Vec<(usize, Vec<usize>)> = Vec::with_capacity(groups.len());
    for ResourceGroup { first, scopes, .. } in &groups {
        let mut rlen = field_len(items[*first].scope.resource.encoded.len());
        let mut slens = Vec::with_capacity(scopes.len());
        for (sfirst, idx) in scopes {
            let slen = field_len(items[*sfirst].scope.encoded.len()) + idx.iter().map(|&i| field_len(items[i].bytes.len())).sum::<usize>();
            rlen += field_len(slen);
            slens.push(slen);
        }
        total += field_len(rlen);
        sizes.push((rlen, slens));
    }
    let mut out = Vec::with_capacity(total);
    for (ResourceGroup { first, scopes, .. }, (rlen, slens)) in groups.iter().zip(sizes.iter()) {
        put_field(&mut out, 1, *rlen);
        let res = &items[*first].scope.resource.encoded;
        put_field(&mut out, 1, res.len());
        out.extend_from_slice(res);
        for ((sfirst, idx), slen) in scopes.iter().zip(slens.iter()) {
            put_field(&mut out, 2, *slen);
            let sc = &items[*sfirst].scope.encoded;
            put_field(&mut out, 1, sc.len());
            out.extend_from_slice(sc);
            for &i in idx {
                put_field(&mut out, 2, items[i].bytes.len());
                out.extend_from_slice(&items[i].bytes);
            }
        }
    }
    debug_assert_eq!(out.len(), total);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flat value's `KeyValue`, written with its lengths worked out first, is the
    /// same bytes as one written by inserting both lengths afterwards.
    #[test]
    fn flat_key_values_encode_as_nested_ones_do() {
        let long = "x".repeat(200);
        let values = [
            Value::Empty,
            Value::Str("".into()),
            Value::Str("GET".into()),
            Value::Str(long.clone().into()),
            Value::Bool(true),
            Value::Bool(false),
            Value::Int(0),
            Value::Int(200),
            Value::Int(-1),
            Value::Int(i64::MIN),
            Value::Double(0.25),
            Value::Bytes(vec![1, 2, 3]),
            Value::Bytes(vec![9; 300]),
        ];
        for key in ["k", long.as_str()] {
            for v in &values {
                let kv = KeyValue { key: Arc::from(key), value: v.clone() };
                let mut fast = Vec::new();
                key_value(&mut Enc::new(&mut fast), 9, &kv);
                let mut slow = Vec::new();
                let mut e = Enc::new(&mut slow);
                let s = e.begin(9);
                e.bytes_always(1, key.as_bytes());
                let v2 = e.begin(2);
                any_value_body(&mut e, v);
                e.end(v2);
                e.end(s);
                assert_eq!(fast, slow, "{key:?} = {v:?}");
                assert!(flat_value_len(v).is_some());
            }
        }
        assert!(flat_value_len(&Value::Array(vec![Value::Int(1)])).is_none());
        assert!(flat_value_len(&Value::KvList(vec![])).is_none());
    }
}

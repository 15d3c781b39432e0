//! Resolving dictionary references (untrusted) into OTLP-ready values, with
//! bounded caches for strings, resources and scopes.

use super::otlp;
use super::EntrySource;
use crate::wire::decode;
use crate::wire::encode::Enc;
use crate::wire::messages::{AnyValue, DictRef, KeyValueRef, Text};
use super::hash::FastMap;
use std::sync::Arc;

/// An OTLP `AnyValue` with every dictionary reference resolved.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// No value set (an `AnyValue` with no oneof field).
    Empty,
    Str(Text),
    Bool(bool),
    Int(i64),
    Double(f64),
    Array(Vec<Value>),
    KvList(Vec<KeyValue>),
    Bytes(Vec<u8>),
}

impl Value {
    /// Approximate heap and inline bytes, for memory budgets.
    pub fn approx_size(&self) -> usize {
        24 + match self {
            Value::Str(s) => s.len(),
            Value::Bytes(b) => b.len(),
            Value::Array(a) => a.iter().map(Value::approx_size).sum(),
            Value::KvList(kvs) => kvs.iter().map(KeyValue::approx_size).sum(),
            Value::Empty | Value::Bool(_) | Value::Int(_) | Value::Double(_) => 0,
        }
    }
}

impl KeyValue {
    /// Approximate bytes, for memory budgets.
    pub fn approx_size(&self) -> usize {
        16 + self.key.len() + self.value.approx_size()
    }
}

/// An attribute with its key resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyValue {
    pub key: Arc<str>,
    pub value: Value,
}

/// A resolved `Resource` entry, encoded once as an OTLP `Resource` message body.
#[derive(Debug)]
pub struct ResourceInfo {
    /// The dictionary reference (0: no resource); identifies the resource when grouping.
    pub resource_ref: i64,
    pub encoded: Vec<u8>,
}

/// A resolved `InstrumentationScope` entry, encoded once as an OTLP
/// `InstrumentationScope` message body, with its resource.
#[derive(Debug)]
pub struct ScopeInfo {
    /// The dictionary reference (0: no scope); identifies the scope when grouping.
    pub scope_ref: i64,
    pub resource: Arc<ResourceInfo>,
    pub encoded: Vec<u8>,
}

/// Nesting limit for values, counting `value_ref` indirections.
pub const MAX_VALUE_DEPTH: u32 = decode::MAX_DEPTH;
/// Most nodes (values and key/values) one top-level value may expand to, so a
/// shared `value_ref` used many times cannot blow up exponentially.
pub const MAX_VALUE_NODES: u32 = 4096;
/// Most bytes of `value_ref` entries one top-level value may read.
pub const MAX_VALUE_REF_BYTES: usize = 1 << 20;

/// What one top-level value may still expand to.
struct Budget {
    nodes: u32,
    bytes: usize,
}

impl Budget {
    fn new() -> Self {
        Budget { nodes: MAX_VALUE_NODES, bytes: MAX_VALUE_REF_BYTES }
    }
}

/// Resolves references through an [`EntrySource`], caching strings, resources and
/// scopes. Each cache holds at most `cache_limit` entries and is cleared when full.
pub struct Resolver {
    strings: FastMap<i64, Arc<str>>,
    resources: FastMap<i64, Arc<ResourceInfo>>,
    scopes: FastMap<i64, Arc<ScopeInfo>>,
    cache_limit: usize,
    empty: Arc<str>,
    no_scope: Arc<ScopeInfo>,
}

impl Resolver {
    pub fn new(cache_limit: usize) -> Self {
        let no_resource = Arc::new(ResourceInfo { resource_ref: 0, encoded: Vec::new() });
        Resolver {
            strings: FastMap::default(),
            resources: FastMap::default(),
            scopes: FastMap::default(),
            cache_limit: cache_limit.max(1),
            empty: Arc::from(""),
            no_scope: Arc::new(ScopeInfo { scope_ref: 0, resource: no_resource, encoded: Vec::new() }),
        }
    }

    /// A dictionary string (raw UTF-8; invalid sequences are replaced). Ref 0 is "".
    pub fn string(&mut self, dict: &mut dyn EntrySource, r: DictRef) -> Result<Arc<str>, String> {
        if r.is_none() {
            return Ok(self.empty.clone());
        }
        if let Some(s) = self.strings.get(&r.0) {
            return Ok(s.clone());
        }
        let bytes = dict.entry(r)?;
        let s: Arc<str> = Arc::from(String::from_utf8_lossy(&bytes).as_ref());
        if self.strings.len() >= self.cache_limit {
            self.strings.clear();
        }
        self.strings.insert(r.0, s.clone());
        Ok(s)
    }

    /// Resolves attributes: keys from the dictionary, values converted (one
    /// [`MAX_VALUE_NODES`]/[`MAX_VALUE_REF_BYTES`] budget for the whole list).
    /// Takes the decoded list, so its strings and bytes move into the result.
    pub fn attributes(&mut self, dict: &mut dyn EntrySource, kvs: Vec<KeyValueRef>) -> Result<Vec<KeyValue>, String> {
        let mut budget = Budget::new();
        let mut out = Vec::with_capacity(kvs.len());
        for kv in kvs {
            out.push(self.key_value_at(dict, kv, 0, &mut budget)?);
        }
        Ok(out)
    }

    /// Converts a mmap `AnyValue` (resolving `value_ref`s, bounded in depth and size).
    pub fn value(&mut self, dict: &mut dyn EntrySource, v: AnyValue) -> Result<Value, String> {
        let mut budget = Budget::new();
        self.value_at(dict, v, 0, &mut budget)
    }

    fn key_value_at(&mut self, dict: &mut dyn EntrySource, kv: KeyValueRef, depth: u32, budget: &mut Budget) -> Result<KeyValue, String> {
        let key = self.string(dict, kv.key_ref)?;
        let value = match kv.value {
            Some(v) => self.value_at(dict, v, depth, budget)?,
            None => Value::Empty,
        };
        Ok(KeyValue { key, value })
    }

    fn value_at(&mut self, dict: &mut dyn EntrySource, v: AnyValue, depth: u32, budget: &mut Budget) -> Result<Value, String> {
        if depth > MAX_VALUE_DEPTH {
            return Err(format!("attribute value nested deeper than {MAX_VALUE_DEPTH} levels (a value_ref cycle?)"));
        }
        if budget.nodes == 0 {
            return Err(format!("attribute value expands to more than {MAX_VALUE_NODES} nodes"));
        }
        budget.nodes -= 1;
        Ok(match v {
            AnyValue::String(s) => Value::Str(s),
            AnyValue::Bool(b) => Value::Bool(b),
            AnyValue::Int(i) => Value::Int(i),
            AnyValue::Double(d) => Value::Double(d),
            AnyValue::Bytes(b) => Value::Bytes(b),
            AnyValue::Array(vals) => {
                let mut out = Vec::with_capacity(vals.len());
                for x in vals {
                    out.push(self.value_at(dict, x, depth + 1, budget)?);
                }
                Value::Array(out)
            }
            AnyValue::KvList(kvs) => {
                let mut out = Vec::with_capacity(kvs.len());
                for kv in kvs {
                    out.push(self.key_value_at(dict, kv, depth + 1, budget)?);
                }
                Value::KvList(out)
            }
            AnyValue::ValueRef(r) => {
                if r.is_none() {
                    Value::Empty
                } else {
                    let bytes = dict.entry(r)?;
                    if bytes.len() > budget.bytes {
                        return Err(format!("value_ref {}: values read through references exceed {MAX_VALUE_REF_BYTES} bytes", r.0));
                    }
                    budget.bytes -= bytes.len();
                    let inner = decode::any_value(&bytes, depth + 1).map_err(|e| format!("value_ref {}: {e}", r.0))?;
                    self.value_at(dict, inner, depth + 1, budget)?
                }
            }
        })
    }

    /// A `Resource` entry (ref 0: an empty resource).
    pub fn resource(&mut self, dict: &mut dyn EntrySource, r: DictRef) -> Result<Arc<ResourceInfo>, String> {
        if r.is_none() {
            return Ok(self.no_scope.resource.clone());
        }
        if let Some(x) = self.resources.get(&r.0) {
            return Ok(x.clone());
        }
        let bytes = dict.entry(r)?;
        let res = decode::resource(&bytes).map_err(|e| format!("resource {}: {e}", r.0))?;
        let attrs = self.attributes(dict, res.attributes)?;
        let mut encoded = Vec::new();
        let mut e = Enc::new(&mut encoded);
        otlp::attributes(&mut e, 1, &attrs);
        e.uint32(2, res.dropped_attributes_count);
        let info = Arc::new(ResourceInfo { resource_ref: r.0, encoded });
        if self.resources.len() >= self.cache_limit {
            self.resources.clear();
        }
        self.resources.insert(r.0, info.clone());
        Ok(info)
    }

    /// An `InstrumentationScope` entry with its resource (ref 0: an empty scope
    /// with an empty resource).
    pub fn scope(&mut self, dict: &mut dyn EntrySource, r: DictRef) -> Result<Arc<ScopeInfo>, String> {
        if r.is_none() {
            return Ok(self.no_scope.clone());
        }
        if let Some(x) = self.scopes.get(&r.0) {
            return Ok(x.clone());
        }
        let bytes = dict.entry(r)?;
        let sc = decode::scope(&bytes).map_err(|e| format!("scope {}: {e}", r.0))?;
        let name = self.string(dict, sc.name_ref)?;
        let version = self.string(dict, sc.version_ref)?;
        let attrs = self.attributes(dict, sc.attributes)?;
        let resource = self.resource(dict, sc.resource_ref)?;
        let mut encoded = Vec::new();
        let mut e = Enc::new(&mut encoded);
        e.bytes(1, name.as_bytes());
        e.bytes(2, version.as_bytes());
        otlp::attributes(&mut e, 3, &attrs);
        e.uint32(4, sc.dropped_attributes_count);
        let info = Arc::new(ScopeInfo { scope_ref: r.0, resource, encoded });
        if self.scopes.len() >= self.cache_limit {
            self.scopes.clear();
        }
        self.scopes.insert(r.0, info.clone());
        Ok(info)
    }
}

//! The Node-API binding: the only module with Node-API FFI.
//!
//! [`sys`] declares the C functions; [`Env`] wraps them in small checked helpers;
//! [`recorder`], [`reader`] and [`collector`] export the JS-facing functions, which
//! `index.js` wraps into the documented API.

mod collector;
mod reader;
mod recorder;
mod sys;

use crate::recorder::{ErrKind, RecError};
use std::ffi::CString;
use std::os::raw::{c_char, c_void};
use sys::*;

/// A JS error to throw: (kind, message).
pub(crate) type JsResult<T> = Result<T, RecError>;

/// The current Node-API environment for one callback.
#[derive(Clone, Copy)]
pub(crate) struct Env(pub napi_env);

fn status(s: napi_status, what: &str) -> JsResult<()> {
    if s == NAPI_OK {
        Ok(())
    } else {
        Err(RecError::plain(format!("Node-API call {what} failed with status {s}")))
    }
}

impl Env {
    /// Reads up to `N` arguments (missing ones are `undefined`).
    pub fn args<const N: usize>(self, info: napi_callback_info) -> JsResult<[napi_value; N]> {
        let mut argv = [std::ptr::null_mut(); N];
        let mut argc = N;
        // SAFETY: argv has room for `argc` values; Node fills at most that many and
        // pads with undefined.
        status(unsafe { napi_get_cb_info(self.0, info, &mut argc, argv.as_mut_ptr(), std::ptr::null_mut(), std::ptr::null_mut()) }, "get_cb_info")?;
        Ok(argv)
    }

    /// The `data` pointer a function was created with (see [`Env::bound_function`]).
    pub fn data<T>(self, info: napi_callback_info) -> JsResult<&'static T> {
        let mut argc = 0usize;
        let mut data: *mut c_void = std::ptr::null_mut();
        // SAFETY: argc 0 means no argv is written; `data` is a valid out-pointer.
        status(unsafe { napi_get_cb_info(self.0, info, &mut argc, std::ptr::null_mut(), std::ptr::null_mut(), &mut data) }, "get_cb_info")?;
        if data.is_null() {
            return Err(RecError::type_error("function has no native handle".into()));
        }
        // SAFETY: functions made by `bound_function` carry a pointer to a leaked `Box<T>`
        // owned by `keep_alive`, an external stored on the function itself, so the box
        // lives at least as long as any JS reference to the function.
        Ok(unsafe { &*(data as *const T) })
    }

    /// A JS function whose `data` is `ptr`, holding `keep_alive` (the external that
    /// owns `ptr`) as its property `h` so the pointer outlives every call.
    pub fn bound_function(self, name: &str, cb: napi_callback, ptr: *mut c_void, keep_alive: napi_value) -> JsResult<napi_value> {
        let cname = CString::new(name).map_err(|_| RecError::plain("bad function name".into()))?;
        let mut f = std::ptr::null_mut();
        // SAFETY: `cname` is NUL-terminated and outlives the call; `cb` has the Node-API signature.
        status(unsafe { napi_create_function(self.0, cname.as_ptr(), NAPI_AUTO_LENGTH, cb, ptr, &mut f) }, "create_function")?;
        self.set(f, "h", keep_alive)?;
        Ok(f)
    }

    pub fn set(self, object: napi_value, name: &str, value: napi_value) -> JsResult<()> {
        let cname = CString::new(name).map_err(|_| RecError::plain("bad property name".into()))?;
        // SAFETY: `cname` is NUL-terminated; `object` and `value` are live values of this scope.
        status(unsafe { napi_set_named_property(self.0, object, cname.as_ptr(), value) }, "set_named_property")
    }

    pub fn object(self) -> JsResult<napi_value> {
        let mut out = std::ptr::null_mut();
        // SAFETY: valid out-pointer.
        status(unsafe { napi_create_object(self.0, &mut out) }, "create_object")?;
        Ok(out)
    }

    pub fn external<T>(self, v: napi_value) -> JsResult<&'static T> {
        let mut p: *mut c_void = std::ptr::null_mut();
        // SAFETY: `p` is a valid out-pointer; Node checks that `v` is an external.
        status(unsafe { napi_get_value_external(self.0, v, &mut p) }, "get_value_external")
            .map_err(|_| RecError::type_error("expected a native handle (internal error)".into()))?;
        if p.is_null() {
            return Err(RecError::type_error("null native handle".into()));
        }
        // SAFETY: every external this addon creates wraps a leaked `Box<T>` of the type
        // the calling function expects (each handle type has its own functions), and it
        // lives until the finalizer runs, after which JS can no longer pass it.
        Ok(unsafe { &*(p as *const T) })
    }

    pub fn create_external<T>(self, value: Box<T>, finalize: napi_finalize) -> JsResult<napi_value> {
        let raw = Box::into_raw(value) as *mut c_void;
        let mut out = std::ptr::null_mut();
        // SAFETY: `raw` is a leaked box reclaimed only by `finalize`.
        status(unsafe { napi_create_external(self.0, raw, Some(finalize), std::ptr::null_mut(), &mut out) }, "create_external")?;
        Ok(out)
    }

    pub fn string(self, v: napi_value) -> JsResult<String> {
        let mut len = 0usize;
        // SAFETY: a null buffer asks only for the length.
        status(unsafe { napi_get_value_string_utf8(self.0, v, std::ptr::null_mut(), 0, &mut len) }, "get_value_string_utf8")
            .map_err(|_| RecError::type_error("expected a string".into()))?;
        let mut buf = vec![0u8; len + 1];
        // SAFETY: `buf` has len+1 bytes, room for the string and its NUL.
        status(unsafe { napi_get_value_string_utf8(self.0, v, buf.as_mut_ptr() as *mut c_char, len + 1, &mut len) }, "get_value_string_utf8")?;
        buf.truncate(len);
        String::from_utf8(buf).map_err(|_| RecError::type_error("string is not valid UTF-8".into()))
    }

    pub fn f64(self, v: napi_value) -> JsResult<f64> {
        let mut out = 0.0;
        // SAFETY: valid out-pointer.
        status(unsafe { napi_get_value_double(self.0, v, &mut out) }, "get_value_double")
            .map_err(|_| RecError::type_error("expected a number".into()))?;
        Ok(out)
    }

    pub fn bool(self, v: napi_value) -> JsResult<bool> {
        let mut out = false;
        // SAFETY: valid out-pointer.
        status(unsafe { napi_get_value_bool(self.0, v, &mut out) }, "get_value_bool")
            .map_err(|_| RecError::type_error("expected a boolean".into()))?;
        Ok(out)
    }

    /// The bytes of a Node `Buffer` (valid while the buffer is alive and not detached).
    pub fn buffer(self, v: napi_value) -> JsResult<(*mut u8, usize)> {
        let mut p: *mut c_void = std::ptr::null_mut();
        let mut len = 0usize;
        // SAFETY: valid out-pointers; Node checks the type.
        status(unsafe { napi_get_buffer_info(self.0, v, &mut p, &mut len) }, "get_buffer_info")
            .map_err(|_| RecError::type_error("expected a Buffer".into()))?;
        Ok((p as *mut u8, len))
    }

    pub fn reference(self, v: napi_value) -> JsResult<napi_ref> {
        let mut r = std::ptr::null_mut();
        // SAFETY: valid out-pointer; the reference is deleted with `delete_reference`.
        status(unsafe { napi_create_reference(self.0, v, 1, &mut r) }, "create_reference")?;
        Ok(r)
    }

    pub fn delete_reference(self, r: napi_ref) {
        if !r.is_null() {
            // SAFETY: `r` came from `reference` and is deleted once (callers null it).
            unsafe { napi_delete_reference(self.0, r) };
        }
    }

    pub fn undefined(self) -> napi_value {
        let mut out = std::ptr::null_mut();
        // SAFETY: valid out-pointer.
        unsafe { napi_get_undefined(self.0, &mut out) };
        out
    }

    pub fn null(self) -> napi_value {
        let mut out = std::ptr::null_mut();
        // SAFETY: valid out-pointer.
        unsafe { napi_get_null(self.0, &mut out) };
        out
    }

    pub fn number(self, v: f64) -> JsResult<napi_value> {
        let mut out = std::ptr::null_mut();
        // SAFETY: valid out-pointer.
        status(unsafe { napi_create_double(self.0, v, &mut out) }, "create_double")?;
        Ok(out)
    }

    pub fn boolean(self, v: bool) -> JsResult<napi_value> {
        let mut out = std::ptr::null_mut();
        // SAFETY: valid out-pointer.
        status(unsafe { napi_get_boolean(self.0, v, &mut out) }, "get_boolean")?;
        Ok(out)
    }

    pub fn str(self, s: &str) -> JsResult<napi_value> {
        let mut out = std::ptr::null_mut();
        // SAFETY: pointer and length describe `s`, which outlives the call.
        status(unsafe { napi_create_string_utf8(self.0, s.as_ptr() as *const c_char, s.len(), &mut out) }, "create_string_utf8")?;
        Ok(out)
    }

    pub fn buffer_copy(self, bytes: &[u8]) -> JsResult<napi_value> {
        let mut out = std::ptr::null_mut();
        let mut data = std::ptr::null_mut();
        // SAFETY: Node copies `bytes.len()` bytes from `bytes` into a new Buffer.
        status(unsafe { napi_create_buffer_copy(self.0, bytes.len(), bytes.as_ptr() as *const c_void, &mut data, &mut out) }, "create_buffer_copy")?;
        Ok(out)
    }

    pub fn array(self, items: &[napi_value]) -> JsResult<napi_value> {
        let mut out = std::ptr::null_mut();
        // SAFETY: valid out-pointer.
        status(unsafe { napi_create_array_with_length(self.0, items.len(), &mut out) }, "create_array")?;
        for (i, v) in items.iter().enumerate() {
            // SAFETY: `out` is the array just created; `v` a live value of this scope.
            status(unsafe { napi_set_element(self.0, out, i as u32, *v) }, "set_element")?;
        }
        Ok(out)
    }

    fn throw(self, e: &RecError) {
        let msg = CString::new(e.message.replace('\0', " ")).unwrap_or_default();
        // SAFETY: `msg` is a valid NUL-terminated string for the duration of the call;
        // a null code is allowed.
        unsafe {
            let mut pending = false;
            napi_is_exception_pending(self.0, &mut pending);
            if pending {
                return;
            }
            match e.kind {
                ErrKind::Type => napi_throw_type_error(self.0, std::ptr::null(), msg.as_ptr()),
                ErrKind::Range => napi_throw_range_error(self.0, std::ptr::null(), msg.as_ptr()),
                ErrKind::Plain => napi_throw_error(self.0, std::ptr::null(), msg.as_ptr()),
            };
        }
    }

    /// Runs a callback body, turning `Err` into a JS exception and a Rust panic into
    /// a JS `Error` (a panic must never unwind into Node).
    pub fn run(self, f: impl FnOnce() -> JsResult<napi_value>) -> napi_value {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                self.throw(&e);
                std::ptr::null_mut()
            }
            Err(_) => {
                self.throw(&RecError::plain("otlp-mmap native code panicked (this is a bug)".into()));
                std::ptr::null_mut()
            }
        }
    }
}

/// Declares an exported `extern "C"` callback whose body gets `(env, info)`.
macro_rules! js_fn {
    ($name:ident, |$env:ident, $info:ident| $body:block) => {
        pub(crate) unsafe extern "C" fn $name(raw_env: $crate::napi::sys::napi_env, $info: $crate::napi::sys::napi_callback_info) -> $crate::napi::sys::napi_value {
            let $env = $crate::napi::Env(raw_env);
            $env.run(|| $body)
        }
    };
}
pub(crate) use js_fn;

fn export(env: napi_env, exports: napi_value, name: &str, cb: napi_callback) {
    let cname = CString::new(name).expect("export name");
    let mut f = std::ptr::null_mut();
    // SAFETY: `cname` is NUL-terminated and outlives the calls; `cb` is a valid
    // callback with the Node-API signature; `exports` is the module's exports object.
    unsafe {
        napi_create_function(env, cname.as_ptr(), NAPI_AUTO_LENGTH, cb, std::ptr::null_mut(), &mut f);
        napi_set_named_property(env, exports, cname.as_ptr(), f);
    }
}

/// Module entry point: Node calls this once per environment (main thread and each
/// worker thread) with that environment's `exports` object.
///
/// # Safety
/// Called by Node with a valid environment and exports object.
#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(env: napi_env, exports: napi_value) -> napi_value {
    for (name, cb) in recorder::EXPORTS.iter().chain(reader::EXPORTS).chain(collector::EXPORTS) {
        export(env, exports, name, *cb);
    }
    exports
}

/// Node-API version this addon needs (8: Node >= 12.22 / 14.17).
#[no_mangle]
pub extern "C" fn node_api_module_get_api_version_v1() -> i32 {
    8
}

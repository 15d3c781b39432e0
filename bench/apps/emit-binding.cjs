'use strict';
// A preload without the agent that binds each request and response the way a context manager
// could, so that what a way of binding costs the bare app can be counted on its own. Every mode
// wraps http.Server.prototype.emit (as the agent does); EMIT_BINDING picks what happens per request:
//   own      (default) an emit of its own on the request and on the response, a new function each,
//            made from two function expressions (one for requests, one for responses), as the
//            agent's bindEmitter (agent/context.ts) makes `boundEmit` and `observedEmit`
//   own-one  the same, both made from one function expression
//   own-req  the request's alone (own)
//   own-res  the response's alone (own)
//   proto    nothing per request: one wrapped emit on IncomingMessage and ServerResponse prototypes
//   symbol   proto, and a symbol-keyed data property on each request and response naming its binding
//   weakmap  proto, and each request and response in a WeakMap naming its binding
// The wrappers call through to the original emit, so the app behaves as without them.
// EMIT_BINDING_REPORT=1 prints, at exit to stderr, the requests seen and how the last request and
// response were bound (JSON).
//   EMIT_BINDING=own node bench/instructions.js --only none --node-variants 'own=--require bench/apps/emit-binding.cjs'
const http = require('node:http');

const MODES = ['own', 'own-one', 'own-req', 'own-res', 'proto', 'symbol', 'weakmap'];
const mode = process.env.EMIT_BINDING || 'own';
if (!MODES.includes(mode)) throw new Error(`EMIT_BINDING must be one of ${MODES.join(', ')}, got ${mode}`);

const kBinding = Symbol('binding');
const bindings = new WeakMap();

if (mode === 'proto' || mode === 'symbol' || mode === 'weakmap') {
  for (const C of [http.IncomingMessage, http.ServerResponse]) {
    const original = C.prototype.emit;
    C.prototype.emit = function emit() {
      // Looked up as a real binding would be, then not used: the preload measures the look-up.
      const binding = mode === 'weakmap' ? bindings.get(this) : this[kBinding];
      if (binding === undefined) return original.apply(this, arguments);
      return original.apply(this, arguments);
    };
  }
}

/** An emit of its own for a request (own modes). */
function ownRequestEmit(req) {
  const original = req.emit;
  req.emit = function boundEmit() {
    return original.apply(this, arguments);
  };
}

/** The same for a response, from another function expression. */
function ownResponseEmit(res) {
  const original = res.emit;
  res.emit = function observedEmit() {
    return original.apply(this, arguments);
  };
}

/** Either, from one function expression (own-one). */
function ownEmit(emitter) {
  const original = emitter.emit;
  emitter.emit = function boundEmit() {
    return original.apply(this, arguments);
  };
}

let requests = 0;
let last;
const serverEmit = http.Server.prototype.emit;
http.Server.prototype.emit = function emit(event, req, res) {
  if (event === 'request') {
    requests++;
    last = [req, res];
    if (mode === 'own' || mode === 'own-req') ownRequestEmit(req);
    if (mode === 'own' || mode === 'own-res') ownResponseEmit(res);
    if (mode === 'own-one') {
      ownEmit(req);
      ownEmit(res);
    } else if (mode === 'symbol') {
      const binding = { req, res };
      req[kBinding] = binding;
      res[kBinding] = binding;
    } else if (mode === 'weakmap') {
      const binding = { req, res };
      bindings.set(req, binding);
      bindings.set(res, binding);
    }
  }
  return serverEmit.apply(this, arguments);
};

if (process.env.EMIT_BINDING_REPORT) {
  const how = (o) => ({
    ownEmit: Object.prototype.hasOwnProperty.call(o, 'emit'),
    symbol: Object.getOwnPropertySymbols(o).includes(kBinding),
    weakMap: bindings.has(o),
  });
  process.on('exit', () => {
    process.stderr.write(`${JSON.stringify({ mode, requests, req: last && how(last[0]), res: last && how(last[1]) })}\n`);
  });
}

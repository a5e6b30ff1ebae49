// ssehub.js: server signals in plain pages. A dependency-free ES module.
//
//   import { signal } from '/ssehub.js';
//   const count = signal('/events', 'count', (value, version) => {
//     document.querySelector('#count').textContent = value;
//   });
//   count.value; count.version; count.close();
//
// The wire format (see the `ssehub_core::protocol::signal` module): a signal
// named N is the SSE topic N; its events have the type N and JSON data, first
// {"v": V, "snapshot": VALUE} (to a new subscriber, after a reset, when the
// signal is created), then {"v": V, "patch": [RFC 6902 operations]} with V one
// more each time.
//
// Client rule, the one of `ssehub_core::protocol::signal` (which the Rust
// clients call), held to the same test vectors
// (crates/ssehub-core/vectors/signal.json, run by ssehub.test.mjs): `v` must
// be a whole number >= 0. A `snapshot` member (even null) always replaces the
// value; a snapshot equal to the value held (member order aside) only moves
// the version, and listeners are not called (no flash). Otherwise a `patch`
// list applies only when v is exactly one more than the version held. Anything
// else (a gap, a repeat, a patch before any snapshot, a patch that does not
// apply, data that is not a signal message) makes the client resync, keeping
// its value: it closes the EventSource and opens a new one (so without
// Last-Event-ID), which the hub answers with snapshots. Resyncs are limited to
// one a second. Reconnections after a dropped connection are the browser's
// own: it resumes with Last-Event-ID and gets the patches it missed, or
// `ssehub-reset` and snapshots. Only when the browser gives up (an HTTP
// error, a 502 from a proxy while the hub restarts, say) does the module open
// a new EventSource itself, 5 seconds later.
//
// Sharing: the signals of one `url` share ONE EventSource, on
// `url?topic=A&topic=B...` (`&` if `url` has a query already, e.g. a token).
// Signals created in the same task join the first open; a name added later
// reopens the source once, with all the names and without Last-Event-ID (so
// every signal gets a fresh snapshot). Two signals of the same name share their
// state; the second gets the current value (if any) in a microtask. `close()`
// drops one signal; the EventSource closes when no signal of its url is left
// (a closed name stays among the topics until the next reopen, ignored).
//
// Options (4th argument, taken from the first signal of a url): `EventSource`,
// the class to use (default globalThis.EventSource; tests inject a fake), and
// `withCredentials`, passed to it.
//
// Values: `applyPatch` never mutates its input. It copies only the containers
// on the paths it changes (unchanged subtrees are shared), so a value passed to
// `onChange` never changes afterwards, and changed parts are new objects (cheap
// change detection by identity). Do not mutate values you are given: later
// versions may share their unchanged parts.

const own = Object.prototype.hasOwnProperty;
const isObj = (x) => typeof x == 'object' && x !== null;
const fail = (m) => {
  throw new Error('ssehub: ' + m);
};

// A JSON Pointer (RFC 6901) as its reference tokens, unescaped.
const tokens = (p) => {
  if (typeof p != 'string' || (p && p[0] != '/')) fail('invalid pointer ' + p);
  return p
    .split('/')
    .slice(1)
    .map((t) =>
      /~([^01]|$)/.test(t) ? fail('invalid pointer ' + p) : t.replace(/~1/g, '/').replace(/~0/g, '~'),
    );
};

// The key of token `t` in container `c`: an index for arrays ('-' is the end,
// for `add` only), a member name for objects; it must exist unless `add`.
const key = (c, t, add) => {
  if (!isObj(c)) fail('no container at ' + t);
  if (Array.isArray(c)) {
    if (add && t == '-') return c.length;
    if (!/^(0|[1-9]\d*)$/.test(t) || +t > c.length - !add) fail('bad index ' + t);
    return +t;
  }
  if (!add && !own.call(c, t)) fail('no member ' + t);
  return t;
};

// Deep equality of JSON values (member order does not matter).
const equal = (a, b) => {
  if (a === b) return true;
  if (!isObj(a) || !isObj(b) || Array.isArray(a) != Array.isArray(b)) return false;
  const k = Object.keys(a);
  return k.length == Object.keys(b).length && k.every((n) => own.call(b, n) && equal(a[n], b[n]));
};

/**
 * Applies RFC 6902 operations (add, remove, replace, move, copy, test) to
 * `doc` and returns the new document. `doc` itself is never mutated: the
 * containers on changed paths are copied, the rest is shared. Throws an Error
 * on a failed `test`, an invalid or missing path, or an unknown operation; the
 * input is then unchanged.
 */
export function applyPatch(doc, ops) {
  // The document sits in a wrapper under the member '', so that every path
  // has a parent; `copied` holds the containers copied by this call (safe to
  // change in place).
  const root = { '': doc };
  const copied = new Set([root]);
  // The parent of the last token, copied along the way, and that token's key.
  const parent = (t, add) => {
    let c = root;
    t = ['', ...t];
    for (let i = 0; i < t.length - 1; i++) {
      const k = key(c, t[i]);
      let n = c[k];
      if (isObj(n) && !copied.has(n)) copied.add((c[k] = n = Array.isArray(n) ? n.slice() : { ...n }));
      c = n;
    }
    return [c, key(c, t[t.length - 1], add)];
  };
  const get = (t) => {
    let c = root;
    for (const s of ['', ...t]) c = c[key(c, s)];
    return c;
  };
  const add = (t, v) => {
    const [c, k] = parent(t, 1);
    if (Array.isArray(c)) c.splice(k, 0, v);
    else Object.defineProperty(c, k, { value: v, writable: 1, enumerable: 1, configurable: 1 });
  };
  const remove = (t) => {
    const [c, k] = parent(t);
    Array.isArray(c) ? c.splice(k, 1) : delete c[k];
  };
  for (const o of ops) {
    if (!isObj(o)) fail('invalid operation');
    const { op, path, from, value } = o;
    const t = tokens(path);
    const f = op == 'move' || op == 'copy' ? tokens(from) : t;
    if (/^(add|replace|test)$/.test(op) && !own.call(o, 'value')) fail(op + ' without value');
    if (op == 'add') add(t, value);
    else if (op == 'remove') remove(t);
    else if (op == 'replace') {
      const [c, k] = parent(t);
      c[k] = value;
    } else if (op == 'test') equal(get(t), value) || fail('test failed at ' + path);
    else if (op == 'copy') {
      add(t, get(f));
      // The value is now in two places: nothing may be changed in place.
      copied.clear();
      copied.add(root);
    } else if (op == 'move') {
      const v = get(f);
      if (path.startsWith(from + '/')) fail('move into itself: ' + path);
      if (path != from) remove(f), add(t, v);
    } else fail('unknown op ' + op);
  }
  return root[''];
}

// One shared EventSource per url: { m: name -> state, E, o, es, p, r, t }.
const hubs = new Map();

const open = (h) => {
  clearTimeout(h.r);
  h.r = 0;
  h.es && h.es.close();
  h.es = 0;
  if (!h.m.size) return;
  const names = [...h.m.keys()];
  const es = (h.es = new h.E(
    h.u + (h.u.includes('?') ? '&' : '?') + names.map((n) => 'topic=' + encodeURIComponent(n)).join('&'),
    { withCredentials: !!h.o.withCredentials },
  ));
  for (const n of names) es.addEventListener(n, (e) => h.es === es && receive(h, n, e.data));
  // The browser reconnects by itself, except after an HTTP error: then a new
  // EventSource in 5 s.
  es.addEventListener('error', () => h.es === es && es.readyState == 2 && (h.r ||= setTimeout(() => open(h), 5e3)));
};

// Close now, reopen at once (or a second after the previous resync).
const resync = (h) => {
  h.es && h.es.close();
  h.es = 0;
  const wait = (h.t || 0) + 1e3 - Date.now();
  if (wait <= 0) (h.t = Date.now()), open(h);
  else h.r ||= setTimeout(() => ((h.t = Date.now()), open(h)), wait);
};

// The rule (see the header): a new value `x`, or `same` (a snapshot of the
// value held), or a resync.
const receive = (h, n, data) => {
  const s = h.m.get(n);
  if (!s) return;
  let v, x, same;
  try {
    const d = JSON.parse(data);
    v = d.v;
    (Number.isInteger(v) && v >= 0) || fail('no version');
    if (own.call(d, 'snapshot')) same = equal(s.x, (x = d.snapshot));
    else if (Array.isArray(d.patch) && v === s.v + 1) x = applyPatch(s.x, d.patch);
    else fail('out of step');
  } catch {
    return resync(h);
  }
  s.v = v;
  if (same) return;
  s.x = x;
  for (const f of [...s.f]) call(f, s);
};

// Calls a listener; what it throws is reported without stopping the others.
const call = (f, s) => {
  try {
    f(s.x, s.v);
  } catch (e) {
    setTimeout(() => {
      throw e;
    });
  }
};

/**
 * Keeps the server signal `name` in sync, over the events endpoint `url`
 * (say '/events'). `onChange(value, version)` is called after each snapshot
 * that changes the value and each applied patch. Returns `{ value, version,
 * close() }` (value and version are undefined until the first snapshot).
 * Options: `EventSource` (the class to use), `withCredentials`.
 */
export function signal(url, name, onChange, options = {}) {
  let h = hubs.get(url);
  if (!h) hubs.set(url, (h = { u: url, m: new Map(), E: options.EventSource || globalThis.EventSource, o: options }));
  let s = h.m.get(name);
  const f = (x, v) => onChange && onChange(x, v);
  if (s) queueMicrotask(() => s.f.has(f) && s.v !== undefined && call(f, s));
  else {
    h.m.set(name, (s = { f: new Set() }));
    // Batch the names added in this task into one (re)open.
    h.p ||= (queueMicrotask(() => ((h.p = 0), open(h))), 1);
  }
  s.f.add(f);
  return {
    get value() {
      return s.x;
    },
    get version() {
      return s.v;
    },
    close() {
      if (s.f.delete(f) && !s.f.size) {
        h.m.delete(name);
        if (!h.m.size) {
          clearTimeout(h.r);
          h.es && h.es.close();
          h.es = 0;
          hubs.get(url) === h && hubs.delete(url);
        }
      }
    },
  };
}

// Unit tests of ssehub.js: `node --test` in js/.
//
// applyPatch against RFC 6902 (its appendix A examples, then errors and the
// copy-on-write guarantee), and signal() against a fake EventSource injected
// with the `EventSource` option: the shared test vectors of the signal rule
// (crates/ssehub-core/vectors/signal.json, which the Rust clients' rule runs
// too), then what is the module's own. The module keeps one shared
// EventSource per url, so each test uses its own url.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { applyPatch, signal } from './ssehub.js';

// ---------------------------------------------------------------------------
// applyPatch: RFC 6902, appendix A

describe('applyPatch: RFC 6902 appendix A', () => {
  const ok = (doc, patch, expected) => assert.deepEqual(applyPatch(doc, patch), expected);
  const err = (doc, patch, re) => assert.throws(() => applyPatch(doc, patch), re);

  test('A.1 adding an object member', () =>
    ok({ foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux' }], { baz: 'qux', foo: 'bar' }));

  test('A.2 adding an array element', () =>
    ok({ foo: ['bar', 'baz'] }, [{ op: 'add', path: '/foo/1', value: 'qux' }], { foo: ['bar', 'qux', 'baz'] }));

  test('A.3 removing an object member', () =>
    ok({ baz: 'qux', foo: 'bar' }, [{ op: 'remove', path: '/baz' }], { foo: 'bar' }));

  test('A.4 removing an array element', () =>
    ok({ foo: ['bar', 'qux', 'baz'] }, [{ op: 'remove', path: '/foo/1' }], { foo: ['bar', 'baz'] }));

  test('A.5 replacing a value', () =>
    ok({ baz: 'qux', foo: 'bar' }, [{ op: 'replace', path: '/baz', value: 'boo' }], { baz: 'boo', foo: 'bar' }));

  test('A.6 moving a value', () =>
    ok(
      { foo: { bar: 'baz', waldo: 'fred' }, qux: { corge: 'grault' } },
      [{ op: 'move', from: '/foo/waldo', path: '/qux/thud' }],
      { foo: { bar: 'baz' }, qux: { corge: 'grault', thud: 'fred' } },
    ));

  test('A.7 moving an array element', () =>
    ok(
      { foo: ['all', 'grass', 'cows', 'eat'] },
      [{ op: 'move', from: '/foo/1', path: '/foo/3' }],
      { foo: ['all', 'cows', 'eat', 'grass'] },
    ));

  test('A.8 testing a value: success', () =>
    ok(
      { baz: 'qux', foo: ['a', 2, 'c'] },
      [
        { op: 'test', path: '/baz', value: 'qux' },
        { op: 'test', path: '/foo/1', value: 2 },
      ],
      { baz: 'qux', foo: ['a', 2, 'c'] },
    ));

  test('A.9 testing a value: error', () =>
    err({ baz: 'qux' }, [{ op: 'test', path: '/baz', value: 'bar' }], /test failed at \/baz/));

  test('A.10 adding a nested member object', () =>
    ok({ foo: 'bar' }, [{ op: 'add', path: '/child', value: { grandchild: {} } }], {
      foo: 'bar',
      child: { grandchild: {} },
    }));

  test('A.11 ignoring unrecognized elements', () =>
    ok({ foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux', xyz: 123 }], { foo: 'bar', baz: 'qux' }));

  test('A.12 adding to a nonexistent target', () =>
    err({ foo: 'bar' }, [{ op: 'add', path: '/baz/bat', value: 'qux' }], /no member baz/));

  test('A.13 invalid JSON Patch document (the last "op" wins in JSON.parse)', () =>
    err({ foo: 'bar' }, JSON.parse('[{ "op": "add", "path": "/baz", "value": "qux", "op": "remove" }]'), /no member baz/));

  test('A.14 ~ escape ordering', () =>
    ok({ '/': 9, '~1': 10 }, [{ op: 'test', path: '/~01', value: 10 }], { '/': 9, '~1': 10 }));

  test('A.15 comparing strings and numbers', () =>
    err({ '/': 9, '~1': 10 }, [{ op: 'test', path: '/~01', value: '10' }], /test failed/));

  test('A.16 adding an array value', () =>
    ok({ foo: ['bar'] }, [{ op: 'add', path: '/foo/-', value: ['abc', 'def'] }], { foo: ['bar', ['abc', 'def']] }));
});

// ---------------------------------------------------------------------------
// applyPatch: the rest of the RFC, and errors

describe('applyPatch: more operations', () => {
  const ok = (doc, patch, expected) => assert.deepEqual(applyPatch(doc, patch), expected);

  test('copy an object member and an array element', () =>
    ok(
      { a: { b: [1, 2] }, c: ['x', 'y'] },
      [
        { op: 'copy', from: '/a', path: '/d' },
        { op: 'copy', from: '/c/0', path: '/c/-' },
      ],
      { a: { b: [1, 2] }, c: ['x', 'y', 'x'], d: { b: [1, 2] } },
    ));

  test('~1 and ~0 escapes in every operation', () =>
    ok(
      { 'a/b': 1, 'm~n': 2 },
      [
        { op: 'replace', path: '/a~1b', value: 10 },
        { op: 'add', path: '/c~0d~1e', value: 3 },
        { op: 'move', from: '/m~0n', path: '/~01' },
        { op: 'test', path: '/~01', value: 2 },
      ],
      { 'a/b': 10, 'c~d/e': 3, '~1': 2 },
    ));

  test("'-' appends; an index equal to the length appends too", () =>
    ok([1], [{ op: 'add', path: '/-', value: 2 }, { op: 'add', path: '/2', value: 3 }], [1, 2, 3]));

  test('the root: replace, add, test', () => {
    ok({ a: 1 }, [{ op: 'replace', path: '', value: [1] }], [1]);
    ok(1, [{ op: 'add', path: '', value: { b: 2 } }], { b: 2 });
    ok({ a: [1, { b: null }] }, [{ op: 'test', path: '', value: { a: [1, { b: null }] } }], { a: [1, { b: null }] });
  });

  test("the member named '' (path '/')", () => ok({ '': 1 }, [{ op: 'replace', path: '/', value: 2 }], { '': 2 }));

  test('test compares deeply, members in any order, arrays in order', () => {
    ok({ a: { x: 1, y: [1, 2] } }, [{ op: 'test', path: '/a', value: { y: [1, 2], x: 1 } }], { a: { x: 1, y: [1, 2] } });
    assert.throws(() => applyPatch({ a: [1, 2] }, [{ op: 'test', path: '/a', value: [2, 1] }]), /test failed/);
    assert.throws(() => applyPatch({ a: {} }, [{ op: 'test', path: '/a', value: [] }]), /test failed/);
    assert.throws(() => applyPatch({ a: null }, [{ op: 'test', path: '/a', value: {} }]), /test failed/);
    assert.throws(() => applyPatch({ a: { x: 1 } }, [{ op: 'test', path: '/a', value: { x: 1, y: 2 } }]), /test failed/);
  });

  test('a member named __proto__ is plain data', () => {
    const doc = applyPatch({}, [{ op: 'add', path: '/__proto__', value: { polluted: true } }]);
    assert.deepEqual(Object.keys(doc), ['__proto__']);
    assert.equal(Object.getPrototypeOf(doc), Object.prototype);
    assert.equal({}.polluted, undefined);
    assert.throws(() => applyPatch({}, [{ op: 'add', path: '/__proto__/x', value: 1 }]), /no member __proto__/);
  });
});

describe('applyPatch: errors', () => {
  const err = (doc, patch, re) => assert.throws(() => applyPatch(doc, patch), re);

  test('array indices: out of range, leading zeros, not a number', () => {
    err([1, 2], [{ op: 'add', path: '/3', value: 0 }], /bad index 3/);
    err([1, 2], [{ op: 'replace', path: '/2', value: 0 }], /bad index 2/);
    err([1, 2], [{ op: 'remove', path: '/2' }], /bad index 2/);
    err([1, 2], [{ op: 'remove', path: '/01' }], /bad index 01/);
    err([1, 2], [{ op: 'remove', path: '/-1' }], /bad index -1/);
    err([1, 2], [{ op: 'test', path: '/x', value: 1 }], /bad index x/);
  });

  test("'-' only as the target of add, move or copy", () => {
    err([1], [{ op: 'remove', path: '/-' }], /bad index -/);
    err([1], [{ op: 'replace', path: '/-', value: 0 }], /bad index -/);
    err([1], [{ op: 'move', from: '/-', path: '/0' }], /bad index -/);
  });

  test('missing members and scalars as containers', () => {
    err({ a: 1 }, [{ op: 'remove', path: '/b' }], /no member b/);
    err({ a: 1 }, [{ op: 'replace', path: '/b', value: 0 }], /no member b/);
    err({ a: 1 }, [{ op: 'add', path: '/a/b', value: 0 }], /no container/);
    err({ a: 1 }, [{ op: 'copy', from: '/b', path: '/c' }], /no member b/);
    err({ a: 1 }, [{ op: 'move', from: '/b', path: '/b' }], /no member b/);
    err({ a: 'text' }, [{ op: 'test', path: '/a/0', value: 't' }], /no container/);
  });

  test('invalid pointers', () => {
    err({ a: 1 }, [{ op: 'remove', path: 'a' }], /invalid pointer/);
    err({ a: 1 }, [{ op: 'remove', path: '/a~2' }], /invalid pointer/);
    err({ a: 1 }, [{ op: 'remove', path: '/a~' }], /invalid pointer/);
    err({ a: 1 }, [{ op: 'remove' }], /invalid pointer/);
    err({ a: 1 }, [{ op: 'copy', path: '/b' }], /invalid pointer/);
  });

  test('unknown operations, missing values, moves into oneself', () => {
    err({}, [{ op: 'merge', path: '/a', value: 1 }], /unknown op merge/);
    err({}, [{ op: 'add', path: '/a' }], /add without value/);
    err({ a: 1 }, [{ op: 'replace', path: '/a' }], /replace without value/);
    err({ a: 1 }, [{ op: 'test', path: '/a' }], /test without value/);
    err({ a: { b: {} } }, [{ op: 'move', from: '/a', path: '/a/b/c' }], /move into itself/);
    err({}, [null], /invalid operation/);
  });
});

describe('applyPatch: copy on write', () => {
  test('never mutates its input; unchanged parts are shared, changed ones are new', () => {
    const doc = { a: { list: [1, 2], x: 1 }, b: { deep: { y: 2 } } };
    const before = structuredClone(doc);
    const out = applyPatch(doc, [
      { op: 'add', path: '/a/list/-', value: 3 },
      { op: 'replace', path: '/a/x', value: 10 },
      { op: 'remove', path: '/a/list/0' },
    ]);
    assert.deepEqual(doc, before);
    assert.deepEqual(out, { a: { list: [2, 3], x: 10 }, b: { deep: { y: 2 } } });
    assert.notEqual(out, doc);
    assert.notEqual(out.a, doc.a);
    assert.notEqual(out.a.list, doc.a.list);
    assert.equal(out.b, doc.b, 'the untouched subtree is shared');
  });

  test('a failed operation leaves the input unchanged, even after earlier ones', () => {
    const doc = { a: [1], n: 1 };
    assert.throws(() =>
      applyPatch(doc, [
        { op: 'add', path: '/a/-', value: 2 },
        { op: 'replace', path: '/n', value: 2 },
        { op: 'test', path: '/n', value: 1 },
      ]),
    );
    assert.deepEqual(doc, { a: [1], n: 1 });
  });

  test('a copied value changed afterwards changes in one place only', () => {
    const doc = { a: { v: [1] } };
    const out = applyPatch(doc, [
      { op: 'replace', path: '/a/v/0', value: 2 }, // /a is now a copy made by this call
      { op: 'copy', from: '/a', path: '/b' },
      { op: 'add', path: '/b/v/-', value: 3 },
      { op: 'add', path: '/a/w', value: 4 },
    ]);
    assert.deepEqual(out, { a: { v: [2], w: 4 }, b: { v: [2, 3] } });
    assert.deepEqual(doc, { a: { v: [1] } });
  });

  test("the operations' values are not changed by later operations", () => {
    const value = { list: [] };
    const ops = [
      { op: 'add', path: '/x', value },
      { op: 'add', path: '/x/list/-', value: 1 },
    ];
    assert.deepEqual(applyPatch({}, ops), { x: { list: [1] } });
    assert.deepEqual(value, { list: [] });
  });
});

// ---------------------------------------------------------------------------
// signal(): against a fake EventSource

/** A fresh fake EventSource class; `Fake.all` lists its instances in order. */
function fakeEventSource() {
  class Fake {
    static all = [];
    constructor(url, init) {
      this.url = url;
      this.init = init;
      this.readyState = 0; // CONNECTING
      this.listeners = {};
      Fake.all.push(this);
    }
    addEventListener(type, f) {
      (this.listeners[type] ||= []).push(f);
    }
    close() {
      this.readyState = 2; // CLOSED
    }
    /** Dispatches an event of `type`, even once closed (the module must ignore it then). */
    emit(type, data) {
      const e = { type, data: typeof data == 'string' ? data : JSON.stringify(data) };
      for (const f of this.listeners[type] || []) f(e);
    }
    open() {
      this.readyState = 1;
      this.emit('open', '');
    }
    get last() {
      return Fake.all[Fake.all.length - 1];
    }
  }
  return Fake;
}

/** Lets queued microtasks (the module's batched opens) run. */
const tick = () => new Promise((resolve) => setImmediate(resolve));

/** A change listener that records its calls. */
function recorder() {
  const calls = [];
  const f = (value, version) => calls.push([structuredClone(value), version]);
  f.calls = calls;
  return f;
}

// The rule of `ssehub_core::protocol::signal`, from the vectors that the Rust
// side runs too (crates/ssehub-core/tests/vectors.rs). Each case's `start` is
// reached by a snapshot of it first; then every step must give its outcome:
// changed (listeners called with the value and version), unchanged (the
// version moves, no listener called) or resync (the EventSource closed and a
// new one opened on the same url, so without lastEventId; value and version
// kept), and leave `held`.
describe('signal(): the shared vectors', () => {
  const vectors = JSON.parse(
    readFileSync(new URL('../crates/ssehub-core/vectors/signal.json', import.meta.url), 'utf8'),
  );
  test('are all there', () => assert.ok(vectors.cases.length >= 10));
  for (const [i, c] of vectors.cases.entries()) {
    test(c.name, async (t) => {
      // Resyncs are limited to one a second: each step comes a second later.
      t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
      const Fake = fakeEventSource();
      const cb = recorder();
      const url = `/t/vectors/${i}`;
      const s = signal(url, 'x', cb, { EventSource: Fake });
      await tick();
      assert.equal(Fake.all.length, 1);
      if (c.start) {
        Fake.all[0].emit('x', { v: c.start.v, snapshot: c.start.value });
        assert.deepEqual(cb.calls, [[c.start.value, c.start.v]], 'the start, by a snapshot');
        cb.calls.length = 0;
      }
      for (const [j, step] of c.steps.entries()) {
        const at = `step ${j} (${step.data})`;
        t.mock.timers.tick(1000);
        const sources = Fake.all.length;
        const es = Fake.all[sources - 1];
        const calls = cb.calls.length;
        es.emit('x', step.data);
        if (step.outcome == 'resync') {
          assert.equal(Fake.all.length, sources + 1, `${at}: a new EventSource`);
          assert.equal(es.readyState, 2, `${at}: the old one closed`);
          assert.equal(Fake.all[sources].url, `${url}?topic=x`, `${at}: the same topics, no lastEventId`);
        } else {
          assert.equal(Fake.all.length, sources, `${at}: the same EventSource`);
          assert.equal(es.readyState, 0, `${at}: still open`);
        }
        if (step.outcome == 'changed') {
          assert.deepEqual(cb.calls.slice(calls), [[step.held.value, step.held.v]], `${at}: listener called`);
        } else {
          assert.ok(['unchanged', 'resync'].includes(step.outcome), `${at}: a known outcome`);
          assert.equal(cb.calls.length, calls, `${at}: listener not called`);
        }
        assert.deepEqual(s.value, step.held?.value, `${at}: value`);
        assert.equal(s.version, step.held?.v, `${at}: version`);
      }
      s.close();
    });
  }
});

describe('signal()', () => {
  test('a snapshot, then patches applied in order', async () => {
    const Fake = fakeEventSource();
    const cb = recorder();
    const count = signal('/t/snapshot', 'count', cb, { EventSource: Fake });
    assert.equal(count.value, undefined);
    assert.equal(count.version, undefined);
    await tick();
    assert.equal(Fake.all.length, 1);
    const es = Fake.all[0];
    assert.equal(es.url, '/t/snapshot?topic=count');
    assert.deepEqual(es.init, { withCredentials: false });
    es.open();
    es.emit('count', { v: 3, snapshot: { n: 0, items: [] } });
    const first = count.value;
    es.emit('count', { v: 4, patch: [{ op: 'replace', path: '/n', value: 1 }] });
    es.emit('count', { v: 5, patch: [{ op: 'add', path: '/items/-', value: 'a' }] });
    assert.deepEqual(cb.calls, [
      [{ n: 0, items: [] }, 3],
      [{ n: 1, items: [] }, 4],
      [{ n: 1, items: ['a'] }, 5],
    ]);
    assert.deepEqual(count.value, { n: 1, items: ['a'] });
    assert.equal(count.version, 5);
    assert.deepEqual(first, { n: 0, items: [] }, 'a value given out is never changed afterwards');
    // Other event types (resets, messages) are not signal events.
    es.emit('ssehub-reset', { reason: 'unknown-id', lastEventId: 'x' });
    es.emit('message', 'hello');
    assert.equal(cb.calls.length, 3);
    assert.equal(Fake.all.length, 1);
    count.close();
    assert.equal(es.readyState, 2);
  });

  test('a snapshot always replaces the value, whatever its version', async () => {
    const Fake = fakeEventSource();
    const cb = recorder();
    const s = signal('/t/reset', 'x', cb, { EventSource: Fake });
    await tick();
    const es = Fake.all[0];
    es.emit('x', { v: 7, snapshot: 'a' });
    // After a reset (say, the hub restarted): a lower version.
    es.emit('x', { v: 0, snapshot: 'b' });
    es.emit('x', { v: 1, patch: [{ op: 'replace', path: '', value: 'c' }] });
    assert.deepEqual(cb.calls, [['a', 7], ['b', 0], ['c', 1]]);
    assert.equal(Fake.all.length, 1);
    s.close();
  });

  test('a version gap resyncs: a new EventSource, without lastEventId, then a snapshot', async () => {
    const Fake = fakeEventSource();
    const cb = recorder();
    const s = signal('/t/gap', 'g', cb, { EventSource: Fake });
    await tick();
    const first = Fake.all[0];
    first.open();
    first.emit('g', { v: 0, snapshot: [1] });
    first.emit('g', { v: 2, patch: [{ op: 'add', path: '/-', value: 3 }] }); // v 1 is missing
    assert.equal(Fake.all.length, 2, 'a new EventSource');
    assert.equal(first.readyState, 2, 'the old one is closed');
    const second = Fake.all[1];
    assert.equal(second.url, '/t/gap?topic=g', 'the same topics, no lastEventId');
    assert.deepEqual(cb.calls, [[[1], 0]], 'the patch after the gap is not applied');
    assert.deepEqual(s.value, [1]);
    // Anything the old source still delivers is ignored.
    first.emit('g', { v: 1, patch: [{ op: 'add', path: '/-', value: 2 }] });
    assert.equal(cb.calls.length, 1);
    second.open();
    second.emit('g', { v: 2, snapshot: [1, 2, 3] });
    second.emit('g', { v: 3, patch: [{ op: 'remove', path: '/0' }] });
    assert.deepEqual(cb.calls.slice(1), [
      [[1, 2, 3], 2],
      [[2, 3], 3],
    ]);
    assert.equal(Fake.all.length, 2);
    s.close();
  });

  test('a repeated version, a patch before any snapshot, a bad patch, bad JSON: each resyncs', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const Fake = fakeEventSource();
    const cb = recorder();
    const s = signal('/t/resyncs', 'r', cb, { EventSource: Fake });
    await tick();
    // A patch before any snapshot: resync at once (the first in a second).
    Fake.all[0].emit('r', { v: 1, patch: [] });
    assert.equal(Fake.all.length, 2);
    assert.equal(s.version, undefined);
    // Resyncs are limited to one a second: the next waits.
    t.mock.timers.tick(200);
    Fake.all[1].emit('r', { v: 0, snapshot: { a: 1 } });
    Fake.all[1].emit('r', { v: 0, patch: [] }); // a repeat
    assert.equal(Fake.all.length, 2);
    assert.equal(Fake.all[1].readyState, 2, 'closed at once');
    t.mock.timers.tick(799);
    assert.equal(Fake.all.length, 2);
    t.mock.timers.tick(1);
    assert.equal(Fake.all.length, 3, 'reopened a second after the previous resync');
    t.mock.timers.tick(5000);
    // A patch that does not apply.
    Fake.all[2].emit('r', { v: 0, snapshot: { a: 1 } });
    Fake.all[2].emit('r', { v: 1, patch: [{ op: 'remove', path: '/nope' }] });
    assert.equal(Fake.all.length, 4);
    assert.deepEqual(s.value, { a: 1 });
    t.mock.timers.tick(5000);
    // Data that is not JSON, or not an object.
    Fake.all[3].emit('r', 'not json');
    assert.equal(Fake.all.length, 5);
    t.mock.timers.tick(5000);
    Fake.all[4].emit('r', 'null');
    assert.equal(Fake.all.length, 6);
    // The second snapshot of { a: 1 } (after the resync) changed nothing:
    // the listener was called once.
    assert.deepEqual(cb.calls, [[{ a: 1 }, 0]]);
    assert.ok(Fake.all.every((es) => es.url === '/t/resyncs?topic=r'));
    s.close();
  });

  test('two signals of one url share one EventSource; a name added later reopens it once', async () => {
    const Fake = fakeEventSource();
    const a = recorder();
    const b = recorder();
    const sa = signal('/t/shared?token=abc', 'a', a, { EventSource: Fake });
    const sb = signal('/t/shared?token=abc', 'b/ü x', b, { EventSource: Fake });
    await tick();
    assert.equal(Fake.all.length, 1, 'one EventSource for both');
    const es = Fake.all[0];
    assert.equal(es.url, '/t/shared?token=abc&topic=a&topic=b%2F%C3%BC%20x');
    es.open();
    es.emit('a', { v: 0, snapshot: 1 });
    es.emit('b/ü x', { v: 10, snapshot: 'x' });
    es.emit('a', { v: 1, patch: [{ op: 'replace', path: '', value: 2 }] });
    es.emit('b/ü x', { v: 11, patch: [{ op: 'replace', path: '', value: 'y' }] });
    assert.deepEqual(a.calls, [[1, 0], [2, 1]]);
    assert.deepEqual(b.calls, [['x', 10], ['y', 11]]);

    // A third name, after the source is open: reopened once, with all three
    // names and no lastEventId, so that each gets a snapshot.
    const c = recorder();
    const sc = signal('/t/shared?token=abc', 'c', c, { EventSource: Fake });
    assert.equal(Fake.all.length, 1, 'batched until the current task ends');
    await tick();
    assert.equal(Fake.all.length, 2);
    assert.equal(es.readyState, 2);
    const es2 = Fake.all[1];
    assert.equal(es2.url, '/t/shared?token=abc&topic=a&topic=b%2F%C3%BC%20x&topic=c');
    es2.open();
    es2.emit('a', { v: 1, snapshot: 2 });
    es2.emit('b/ü x', { v: 11, snapshot: 'y' });
    es2.emit('c', { v: 0, snapshot: null });
    es2.emit('a', { v: 2, patch: [{ op: 'replace', path: '', value: 3 }] });
    assert.deepEqual(sa.value, 3);
    assert.deepEqual(sb.value, 'y');
    assert.deepEqual(c.calls, [[null, 0]]);

    // A gap in one signal resyncs the shared source: every signal gets a snapshot.
    es2.emit('c', { v: 5, patch: [] });
    assert.equal(Fake.all.length, 3);
    assert.equal(Fake.all[2].url, es2.url);

    // The source closes with its last signal.
    sa.close();
    sb.close();
    assert.equal(Fake.all[2].readyState, 0);
    sc.close();
    assert.equal(Fake.all[2].readyState, 2);
    sc.close(); // twice is harmless
  });

  test('two signals of one name share the state; the second gets the current value', async () => {
    const Fake = fakeEventSource();
    const one = recorder();
    const two = recorder();
    const s1 = signal('/t/same', 'n', one, { EventSource: Fake });
    await tick();
    Fake.all[0].emit('n', { v: 0, snapshot: 'a' });
    const s2 = signal('/t/same', 'n', two, { EventSource: Fake });
    assert.equal(s2.value, 'a');
    await tick();
    assert.equal(Fake.all.length, 1, 'no reopen for a name already there');
    assert.deepEqual(two.calls, [['a', 0]]);
    Fake.all[0].emit('n', { v: 1, patch: [{ op: 'replace', path: '', value: 'b' }] });
    assert.deepEqual(one.calls, [['a', 0], ['b', 1]]);
    assert.deepEqual(two.calls, [['a', 0], ['b', 1]]);
    s1.close();
    Fake.all[0].emit('n', { v: 2, patch: [{ op: 'replace', path: '', value: 'c' }] });
    assert.equal(one.calls.length, 2, 'a closed signal is not called');
    assert.deepEqual(two.calls.at(-1), ['c', 2]);
    assert.equal(Fake.all[0].readyState, 0, 'still open for the other');
    s2.close();
    assert.equal(Fake.all[0].readyState, 2);
  });

  test('signals closed before the source opens open nothing; the url can be used again', async () => {
    const Fake = fakeEventSource();
    signal('/t/closed', 'x', null, { EventSource: Fake }).close();
    await tick();
    assert.equal(Fake.all.length, 0);
    const cb = recorder();
    const s = signal('/t/closed', 'y', cb, { EventSource: Fake, withCredentials: true });
    await tick();
    assert.equal(Fake.all.length, 1);
    assert.equal(Fake.all[0].url, '/t/closed?topic=y');
    assert.deepEqual(Fake.all[0].init, { withCredentials: true });
    Fake.all[0].emit('y', { v: 0, snapshot: 1 });
    assert.deepEqual(cb.calls, [[1, 0]]);
    s.close();
  });

  test('when the browser gives up (an HTTP error), a new EventSource 5 s later', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const Fake = fakeEventSource();
    const s = signal('/t/http-error', 'e', null, { EventSource: Fake });
    await tick();
    const es = Fake.all[0];
    // A dropped connection: the browser reconnects by itself.
    es.readyState = 0;
    es.emit('error', '');
    t.mock.timers.tick(10_000);
    assert.equal(Fake.all.length, 1);
    // An HTTP error: the browser closes the source for good.
    es.readyState = 2;
    es.emit('error', '');
    t.mock.timers.tick(4999);
    assert.equal(Fake.all.length, 1);
    t.mock.timers.tick(1);
    assert.equal(Fake.all.length, 2);
    assert.equal(Fake.all[1].url, '/t/http-error?topic=e');
    s.close();
  });
});

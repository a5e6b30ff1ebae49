// The size budget of ssehub.js: under 4 KB once minified by esbuild.
// Run with the rest: `node --test` in js/ (after `npm ci`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import esbuild from 'esbuild';

const LIMIT = 4096;

test(`ssehub.js minifies to under ${LIMIT} bytes`, () => {
  const src = readFileSync(new URL('./ssehub.js', import.meta.url), 'utf8');
  const { code } = esbuild.transformSync(src, { minify: true });
  console.log(`ssehub.js: ${src.length} bytes, ${code.length} minified`);
  assert.ok(code.length < LIMIT, `minified ssehub.js is ${code.length} bytes, the budget is under ${LIMIT}`);
});

test('the minified ssehub.js still exports signal and applyPatch', async () => {
  const src = readFileSync(new URL('./ssehub.js', import.meta.url), 'utf8');
  const { code } = esbuild.transformSync(src, { minify: true, format: 'esm' });
  const mod = await import('data:text/javascript;base64,' + Buffer.from(code).toString('base64'));
  assert.equal(typeof mod.signal, 'function');
  assert.deepEqual(mod.applyPatch({ a: 1 }, [{ op: 'replace', path: '/a', value: 2 }]), { a: 2 });
});

// Drives headless Chromium for ssehub's browser tests.
//
// Usage: node driver.mjs '<json config>'
//
// The config is one JSON object:
//   url        the page to open (required)
//   chromium   the Chromium executable (default /usr/bin/chromium)
//   timeoutMs  the budget for the whole run: launch, load, and the page's work
//              (default 60000)
//
// The page signals that it is done by setting `window.__done = true`; its
// result is `window.__result`, which must be JSON-serialisable. On success the
// driver prints `JSON.stringify(window.__result ?? null)` as one line on stdout
// and exits 0. On any failure (launch, navigation, page never done in time) it
// exits non-zero and explains on stderr, including the page's console output,
// its uncaught errors and whatever partial `window.__result` it had.
//
// Script mode: instead of "url", the config may give "steps", a list run in
// order in one browser, for tests that drive pages as a user does (several
// pages at once, typing, clicking). Each step is one object:
//   {"open": URL}                            open a new page (pages are numbered
//                                            0, 1, ... in order of opening), wait
//                                            for its load event; optional fields:
//                                            "javascript": false (a page with
//                                            JavaScript disabled), "waitUntil":
//                                            "domcontentloaded" or "commit" (instead
//                                            of "load"), "init": a script run in
//                                            the page before any of its own
//   {"page": N, "waitFor": EXPR}             wait until the JavaScript expression
//                                            EXPR is truthy in page N
//   {"page": N, "type": SEL, "text": T}      type T into the element SEL, key by key
//   {"page": N, "press": SEL, "key": K}      press key K (e.g. "Enter") in SEL
//   {"page": N, "click": SEL}                click the element SEL
//   {"page": N, "eval": EXPR}                evaluate EXPR in page N; its value
//                                            (JSON-serialisable) is a result
//   {"page": N, "text": SEL}                 the text of the element SEL is a
//                                            result (read without the page's
//                                            JavaScript, so also when disabled)
//   {"page": N, "errors": true}              page N's console errors and uncaught
//                                            errors so far are a result
//   {"page": N, "warnings": true}            page N's console warnings so far are
//                                            a result
//   {"page": N, "close": true}               close page N, as a user closes a tab
//                                            (its connections end); later steps
//                                            may not use it
// Each page has its own browser context (as two tabs of different users
// would). On success the driver prints the JSON array of the "eval" results,
// in step order, as one line. On failure it names the step, with each page's
// diagnostics (console, uncaught errors, failed requests, its text).
//
// Chromium comes from Debian's `chromium` package (installed by
// ./scripts/test); never `npx playwright install`, which downloads a browser.

import { chromium } from 'playwright-core';

// Without these, Chromium tries to reach the network at start-up and hangs on
// an offline machine.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
  // Tests serve HTTPS with certificates they make themselves.
  '--ignore-certificate-errors',
];

function fail(message) {
  process.stderr.write(`driver: ${message}\n`);
  process.exitCode = 1;
}

async function main() {
  let config;
  try {
    config = JSON.parse(process.argv[2] ?? '');
  } catch (e) {
    fail(`expected one JSON argument ({"url": ...}): ${e.message}`);
    return;
  }
  if (config.steps !== undefined) {
    await runScript(config);
    return;
  }
  const url = config.url;
  if (typeof url !== 'string') {
    fail('config has no "url" string');
    return;
  }
  const executablePath = config.chromium ?? '/usr/bin/chromium';
  const timeoutMs = config.timeoutMs ?? 60000;
  const deadline = Date.now() + timeoutMs;
  const remaining = () => Math.max(1, deadline - Date.now());

  // A last resort should the browser itself stop answering: playwright kills
  // the browsers it launched when the process exits.
  const watchdog = setTimeout(() => {
    process.stderr.write(`driver: no result after ${timeoutMs} ms, giving up\n`);
    process.exit(3);
  }, timeoutMs + 5000);

  const note = (line) => process.stderr.write(`page: ${line}\n`);

  let browser;
  try {
    browser = await chromium.launch({
      executablePath,
      args: CHROMIUM_ARGS,
      timeout: remaining(),
    });
    const page = await browser.newPage();
    page.on('console', (msg) => note(`console.${msg.type()}: ${msg.text()}`));
    page.on('pageerror', (err) => note(`uncaught error: ${err.message}`));
    page.on('requestfailed', (req) =>
      note(`request failed: ${req.url()}: ${req.failure()?.errorText}`),
    );

    await page.goto(url, { waitUntil: 'load', timeout: remaining() });
    try {
      await page.waitForFunction(() => window.__done === true, null, {
        timeout: remaining(),
      });
    } catch (e) {
      let partial = '(unavailable)';
      try {
        partial = await page.evaluate(() => JSON.stringify(window.__result ?? null));
      } catch {}
      if (partial.length > 4000) {
        partial = `${partial.slice(0, 4000)}... (${partial.length} chars)`;
      }
      fail(
        `the page did not set window.__done = true within ${timeoutMs} ms ` +
          `(${e.message.split('\n')[0]}); window.__result so far: ${partial}`,
      );
      return;
    }
    const result = await page.evaluate(() => JSON.stringify(window.__result ?? null));
    await new Promise((resolve, reject) =>
      process.stdout.write(`${result}\n`, (err) => (err ? reject(err) : resolve())),
    );
  } catch (e) {
    fail(e.stack ?? String(e));
  } finally {
    clearTimeout(watchdog);
    if (browser) {
      await browser.close().catch((e) => fail(`closing the browser: ${e.message}`));
    }
  }
}

// Script mode (see the top of this file).
async function runScript(config) {
  const steps = config.steps;
  if (!Array.isArray(steps)) {
    fail('config "steps" is not a list');
    return;
  }
  const executablePath = config.chromium ?? '/usr/bin/chromium';
  const timeoutMs = config.timeoutMs ?? 60000;
  const deadline = Date.now() + timeoutMs;
  const remaining = () => Math.max(1, deadline - Date.now());
  const watchdog = setTimeout(() => {
    process.stderr.write(`driver: script not finished after ${timeoutMs} ms, giving up\n`);
    process.exit(3);
  }, timeoutMs + 5000);

  const pages = [];
  const results = [];
  let browser;
  let current = -1;
  try {
    browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS, timeout: remaining() });
    for (current = 0; current < steps.length; current++) {
      const step = steps[current];
      if (typeof step.open === 'string') {
        const index = pages.length;
        const page = await browser.newPage({ javaScriptEnabled: step.javascript !== false });
        if (typeof step.init === 'string') await page.addInitScript(step.init);
        const note = (line) => process.stderr.write(`page ${index}: ${line}\n`);
        page.errors = [];
        page.warnings = [];
        page.on('console', (msg) => {
          note(`console.${msg.type()}: ${msg.text()}`);
          if (msg.type() === 'error') page.errors.push(`console.error: ${msg.text()}`);
          if (msg.type() === 'warning') page.warnings.push(`console.warning: ${msg.text()}`);
        });
        page.on('pageerror', (err) => {
          note(`uncaught error: ${err.message}`);
          page.errors.push(`uncaught error: ${err.message}`);
        });
        page.on('requestfailed', (req) =>
          note(`request failed: ${req.url()}: ${req.failure()?.errorText}`),
        );
        pages.push(page);
        await page.goto(step.open, { waitUntil: step.waitUntil ?? 'load', timeout: remaining() });
        continue;
      }
      const page = pages[step.page];
      if (page === undefined) {
        throw new Error(`no page ${JSON.stringify(step.page)} (${pages.length} open)`);
      }
      if (page.isClosed()) {
        throw new Error(`page ${step.page} was closed by an earlier step`);
      }
      const timeout = remaining();
      if (typeof step.waitFor === 'string') {
        await page.waitForFunction(step.waitFor, null, { timeout });
      } else if (typeof step.type === 'string') {
        await page.locator(step.type).pressSequentially(String(step.text ?? ''), { timeout });
      } else if (typeof step.press === 'string') {
        await page.locator(step.press).press(String(step.key), { timeout });
      } else if (typeof step.click === 'string') {
        await page.locator(step.click).click({ timeout });
      } else if (step.close === true) {
        await page.close();
      } else if (step.errors === true) {
        // The console errors and uncaught exceptions of the page so far.
        results.push(page.errors);
      } else if (step.warnings === true) {
        results.push(page.warnings);
      } else if (typeof step.text === 'string') {
        results.push(await page.locator(step.text).textContent({ timeout }));
      } else if (typeof step.screenshot === 'string') {
        await page.setViewportSize({ width: step.width ?? 1200, height: step.height ?? 800 });
        await page.screenshot({ path: step.screenshot, timeout });
      } else if (typeof step.eval === 'string') {
        // Evaluated as an expression; a returned promise is awaited.
        results.push(await page.evaluate((expr) => (0, eval)(expr), step.eval));
      } else {
        throw new Error('unknown step');
      }
    }
    current = -1;
    const out = JSON.stringify(results);
    await new Promise((resolve, reject) =>
      process.stdout.write(`${out}\n`, (err) => (err ? reject(err) : resolve())),
    );
  } catch (e) {
    const where =
      current >= 0 ? `step ${current} ${JSON.stringify(steps[current])}` : 'launching';
    let message = `${where} failed: ${(e.message ?? String(e)).split('\n')[0]}`;
    for (const [i, page] of pages.entries()) {
      let text = '(unavailable)';
      try {
        text = await page.evaluate(() => document.body?.innerText ?? '');
      } catch {}
      if (text.length > 2000) text = `${text.slice(0, 2000)}... (${text.length} chars)`;
      message += `\npage ${i} (${page.url()}) text: ${JSON.stringify(text)}`;
    }
    fail(message);
  } finally {
    clearTimeout(watchdog);
    if (browser) {
      await browser.close().catch((e) => fail(`closing the browser: ${e.message}`));
    }
  }
}

await main();

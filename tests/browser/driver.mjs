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

await main();

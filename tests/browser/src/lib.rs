//! A harness for testing ssehub against a real browser: headless Chromium,
//! driven by Node.js and `playwright-core`.
//!
//! A test serves a page with [`serve`], then opens it with
//! [`Browser::run_page`]. The page does its work (typically with an
//! `EventSource`) and signals the end by setting `window.__done = true`; what it
//! left in `window.__result` comes back as JSON.
//!
//! ```no_run
//! use axum::{response::Html, routing::get, Router};
//! use ssehub_browser_tests::{serve, Browser, PageOptions};
//!
//! # async fn example() -> anyhow::Result<()> {
//! let browser = Browser::ensure()?; // a clear error if Chromium or Node is missing
//! let app = Router::new().route(
//!     "/",
//!     get(|| async { Html("<script>window.__result = 42; window.__done = true</script>") }),
//! );
//! let server = serve(app).await?;
//! let result = browser.run_page(&server.url("/"), &PageOptions::default()).await?;
//! assert_eq!(result, serde_json::json!(42));
//! # Ok(())
//! # }
//! ```
//!
//! To act as a user instead (several pages, typing, clicking), describe the
//! steps with a [`Script`] and run it with [`Browser::run_script`].
//!
//! Prerequisites are installed by `./scripts/test`: Debian's `chromium` package
//! (at [`CHROMIUM`]) and `npm ci` in `tests/browser` (for `playwright-core`).
//! The tests never download a browser of their own. A missing prerequisite is
//! an error, not a skipped test.

#![deny(missing_docs)]

pub mod cut;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context as _};
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::task::JoinHandle;

/// Where the Chromium of Debian's `chromium` package is.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The oldest Node.js major version that `playwright-core` supports.
const MIN_NODE_MAJOR: u32 = 20;

/// How long the driver may take beyond the page's own budget (starting Node,
/// closing the browser) before it is killed.
const DRIVER_GRACE: Duration = Duration::from_secs(15);

/// What to run when a prerequisite is missing.
const HOW_TO_INSTALL: &str = "run ./scripts/test from the repository root, which installs the \
     browser test prerequisites (Debian's chromium package, and `npm ci` in tests/browser)";

/// Headless Chromium with its Node.js driver, checked to be installed.
///
/// Get one with [`Browser::ensure`]; each [`Browser::run_page`] launches a
/// fresh browser, so one `Browser` serves any number of tests, in parallel.
#[derive(Clone, Debug)]
pub struct Browser {
    node: PathBuf,
    driver: PathBuf,
    chromium: PathBuf,
}

/// How [`Browser::run_page`] runs a page.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PageOptions {
    /// The budget for the whole run: launching Chromium, loading the page and
    /// waiting for `window.__done`. Default: 60 seconds.
    pub timeout: Duration,
}

impl Default for PageOptions {
    fn default() -> Self {
        PageOptions {
            timeout: Duration::from_secs(60),
        }
    }
}

impl PageOptions {
    /// Sets [`PageOptions::timeout`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl Browser {
    /// Checks that Chromium, Node.js, the driver script and `playwright-core`
    /// are all there, and returns a handle to run pages with.
    ///
    /// # Errors
    ///
    /// If any is missing, with a message saying what and how to install it
    /// (run `./scripts/test`).
    pub fn ensure() -> anyhow::Result<Browser> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let chromium = PathBuf::from(CHROMIUM);
        if !chromium.is_file() {
            bail!("Chromium is not installed (no {CHROMIUM}): {HOW_TO_INSTALL}");
        }
        let node = PathBuf::from("node");
        let version = std::process::Command::new(&node)
            .arg("--version")
            .output()
            .with_context(|| format!("Node.js (`node`) cannot be run: {HOW_TO_INSTALL}"))?;
        let version = String::from_utf8_lossy(&version.stdout);
        let major = version
            .trim()
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|major| major.parse::<u32>().ok());
        match major {
            Some(major) if major >= MIN_NODE_MAJOR => {}
            _ => bail!(
                "Node.js {MIN_NODE_MAJOR} or newer is needed for playwright-core, found {:?}",
                version.trim()
            ),
        }
        let driver = dir.join("driver.mjs");
        if !driver.is_file() {
            bail!("the browser driver {} is missing", driver.display());
        }
        if !dir
            .join("node_modules/playwright-core/package.json")
            .is_file()
        {
            bail!(
                "playwright-core is not installed in {}: {HOW_TO_INSTALL}",
                dir.join("node_modules").display()
            );
        }
        Ok(Browser {
            node,
            driver,
            chromium,
        })
    }

    /// Opens `url` in a fresh headless Chromium, waits until the page sets
    /// `window.__done = true`, and returns `window.__result` (`null` if the page
    /// set none).
    ///
    /// The wait is event-driven (no fixed sleeps), bounded by
    /// [`PageOptions::timeout`]. Pass anything the page needs in the URL (its
    /// query string, say).
    ///
    /// # Errors
    ///
    /// If the browser cannot be launched, the page cannot be loaded, or it is
    /// not done in time. The error carries the driver's diagnostics: the page's
    /// console output, its uncaught errors, failed requests, and its partial
    /// `window.__result`.
    pub async fn run_page(
        &self,
        url: &str,
        options: &PageOptions,
    ) -> anyhow::Result<serde_json::Value> {
        let config = serde_json::json!({
            "url": url,
            "chromium": self.chromium,
            "timeoutMs": u64::try_from(options.timeout.as_millis()).unwrap_or(u64::MAX),
        });
        self.run_driver(&config, url, options).await
    }

    /// Runs `script` in one fresh headless Chromium: opens its pages and runs
    /// its steps in order, as a user would (see [`Script`]). Returns the
    /// values of its [`Script::eval`] steps, in order.
    ///
    /// Waits are event-driven, bounded by [`PageOptions::timeout`] for the
    /// whole script.
    ///
    /// # Errors
    ///
    /// If the browser cannot be launched, or a step fails or is not done in
    /// time. The error names the step and carries each page's console output,
    /// uncaught errors, failed requests and text.
    pub async fn run_script(
        &self,
        script: &Script,
        options: &PageOptions,
    ) -> anyhow::Result<Vec<serde_json::Value>> {
        let config = serde_json::json!({
            "steps": script.steps,
            "chromium": self.chromium,
            "timeoutMs": u64::try_from(options.timeout.as_millis()).unwrap_or(u64::MAX),
        });
        let what = match script.steps.first().and_then(|step| step["open"].as_str()) {
            Some(url) => format!("a script opening {url}"),
            None => "a script".to_owned(),
        };
        let result = self.run_driver(&config, &what, options).await?;
        serde_json::from_value(result).context("the driver's script result is not a list")
    }

    /// Runs the driver with `config` and returns what it printed.
    async fn run_driver(
        &self,
        config: &serde_json::Value,
        url: &str,
        options: &PageOptions,
    ) -> anyhow::Result<serde_json::Value> {
        let child = Command::new(&self.node)
            .arg(&self.driver)
            .arg(config.to_string())
            .current_dir(self.driver.parent().unwrap_or(Path::new(".")))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting `node {}`", self.driver.display()))?;
        let limit = options.timeout + DRIVER_GRACE;
        let output = tokio::time::timeout(limit, child.wait_with_output())
            .await
            .with_context(|| format!("the browser driver did not finish within {limit:?}"))?
            .context("waiting for the browser driver")?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            bail!(
                "the browser driver failed ({}) on {url}:\n{}",
                output.status,
                stderr.trim_end()
            );
        }
        serde_json::from_slice(&output.stdout).with_context(|| {
            format!(
                "the browser driver printed no JSON result for {url}; its stderr:\n{}",
                stderr.trim_end()
            )
        })
    }
}

/// What a user does in a browser, step by step, for [`Browser::run_script`]:
/// open pages, wait for what they show, type, press keys, click, read
/// values back, and close pages.
///
/// Pages are numbered from 0 in the order [`Script::open`] opens them; each
/// has its own browser context (cookies, storage), like two users. Selectors
/// are Playwright selectors (CSS, say `#message`); expressions are JavaScript
/// expressions evaluated in the page.
///
/// ```no_run
/// use ssehub_browser_tests::{Browser, PageOptions, Script};
///
/// # async fn example(url: &str) -> anyhow::Result<()> {
/// let script = Script::new()
///     .open(url) // page 0
///     .open(url) // page 1
///     .wait_for(1, "document.querySelector('#status').textContent === 'connected'")
///     .type_text(0, "#message", "hello")
///     .press(0, "#message", "Enter")
///     .wait_for(1, "document.body.innerText.includes('hello')")
///     .eval(1, "document.querySelectorAll('li').length");
/// let values = Browser::ensure()?.run_script(&script, &PageOptions::default()).await?;
/// assert_eq!(values, [serde_json::json!(1)]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default)]
#[must_use = "a Script does nothing until passed to `Browser::run_script`"]
pub struct Script {
    steps: Vec<serde_json::Value>,
    pages: usize,
}

impl Script {
    /// An empty script.
    pub fn new() -> Script {
        Script::default()
    }

    /// Opens `url` in a new page (the next number, from 0) and waits for it to
    /// load.
    pub fn open(mut self, url: &str) -> Script {
        self.steps.push(serde_json::json!({ "open": url }));
        self.pages += 1;
        self
    }

    /// Like [`Script::open`], with [`OpenOptions`]: JavaScript disabled, an
    /// earlier point to wait for, a script to run first.
    pub fn open_with(mut self, url: &str, options: &OpenOptions) -> Script {
        let mut step = serde_json::json!({ "open": url });
        if !options.javascript {
            step["javascript"] = false.into();
        }
        if let Some(wait_until) = options.wait_until {
            step["waitUntil"] = wait_until.into();
        }
        if let Some(init) = &options.init {
            step["init"] = init.as_str().into();
        }
        self.steps.push(step);
        self.pages += 1;
        self
    }

    /// Waits until the JavaScript `expression` is truthy in `page`.
    ///
    /// # Panics
    ///
    /// If `page` is not opened by an earlier step.
    pub fn wait_for(self, page: usize, expression: &str) -> Script {
        self.step(page, serde_json::json!({ "waitFor": expression }))
    }

    /// Types `text` into the element at `selector`, one key at a time.
    ///
    /// # Panics
    ///
    /// If `page` is not opened by an earlier step.
    pub fn type_text(self, page: usize, selector: &str, text: &str) -> Script {
        self.step(page, serde_json::json!({ "type": selector, "text": text }))
    }

    /// Presses `key` (`"Enter"`, `"a"`, ...) in the element at `selector`.
    ///
    /// # Panics
    ///
    /// If `page` is not opened by an earlier step.
    pub fn press(self, page: usize, selector: &str, key: &str) -> Script {
        self.step(page, serde_json::json!({ "press": selector, "key": key }))
    }

    /// Clicks the element at `selector`.
    ///
    /// # Panics
    ///
    /// If `page` is not opened by an earlier step.
    pub fn click(self, page: usize, selector: &str) -> Script {
        self.step(page, serde_json::json!({ "click": selector }))
    }

    /// Evaluates the JavaScript `expression` in `page` (awaiting it if it is a
    /// promise); its value, which must be JSON-serialisable, is one of the
    /// results of [`Browser::run_script`].
    ///
    /// # Panics
    ///
    /// If `page` is not opened by an earlier step.
    pub fn eval(self, page: usize, expression: &str) -> Script {
        self.step(page, serde_json::json!({ "eval": expression }))
    }

    /// Adds to the results of [`Browser::run_script`] the list (JSON array of
    /// strings) of `page`'s console errors and uncaught exceptions so far.
    ///
    /// # Panics
    ///
    /// If `page` is not opened by an earlier step.
    pub fn errors(self, page: usize) -> Script {
        self.step(page, serde_json::json!({ "errors": true }))
    }

    /// Adds to the results of [`Browser::run_script`] the list (JSON array
    /// of strings) of `page`'s console warnings so far.
    ///
    /// # Panics
    ///
    /// If `page` is not opened by an earlier step.
    pub fn warnings(self, page: usize) -> Script {
        self.step(page, serde_json::json!({ "warnings": true }))
    }

    /// Adds to the results of [`Browser::run_script`] the text content of
    /// the element at `selector` in `page`, read without the page's own
    /// JavaScript (so also from a page that has it disabled).
    ///
    /// # Panics
    ///
    /// If `page` is not opened by an earlier step.
    pub fn text(self, page: usize, selector: &str) -> Script {
        self.step(page, serde_json::json!({ "text": selector }))
    }

    /// Closes `page`, as a user closes a tab: its connections end (its
    /// `EventSource` among them). Its number is not reused; no later step may
    /// use it.
    ///
    /// # Panics
    ///
    /// If `page` is not opened by an earlier step.
    pub fn close(self, page: usize) -> Script {
        self.step(page, serde_json::json!({ "close": true }))
    }

    /// Saves a PNG of `page`, `width` × `height` pixels of viewport, to `path`.
    ///
    /// # Panics
    ///
    /// If `page` is not opened by an earlier step.
    pub fn screenshot(self, page: usize, path: &str, width: u32, height: u32) -> Script {
        self.step(
            page,
            serde_json::json!({ "screenshot": path, "width": width, "height": height }),
        )
    }

    fn step(mut self, page: usize, mut step: serde_json::Value) -> Script {
        assert!(
            page < self.pages,
            "page {page} is not open ({} opened so far)",
            self.pages
        );
        step["page"] = page.into();
        self.steps.push(step);
        self
    }
}

/// How [`Script::open_with`] opens a page.
#[derive(Clone, Debug)]
#[must_use]
pub struct OpenOptions {
    javascript: bool,
    wait_until: Option<&'static str>,
    init: Option<String>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            javascript: true,
            wait_until: None,
            init: None,
        }
    }
}

impl OpenOptions {
    /// The defaults: JavaScript on, wait for the `load` event, no script.
    pub fn new() -> OpenOptions {
        OpenOptions::default()
    }

    /// Opens the page with JavaScript disabled.
    pub fn no_javascript(mut self) -> OpenOptions {
        self.javascript = false;
        self
    }

    /// Waits only until the document is parsed (`DOMContentLoaded`), not
    /// for the `load` event (which waits for every subresource, preloads
    /// among them).
    pub fn until_dom_content_loaded(mut self) -> OpenOptions {
        self.wait_until = Some("domcontentloaded");
        self
    }

    /// Runs the JavaScript `script` in the page before any of the page's
    /// own scripts (Playwright's `addInitScript`).
    pub fn init_script(mut self, script: &str) -> OpenOptions {
        self.init = Some(script.to_owned());
        self
    }
}

/// A test route's answer: 200 `ok`, or 500 with the error.
pub fn outcome<T>(result: Result<T, impl std::fmt::Display>) -> axum::response::Response {
    use axum::response::IntoResponse;
    match result {
        Ok(_) => "ok".into_response(),
        Err(e) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// An HTTP server for a test, on an ephemeral port of 127.0.0.1; it stops when
/// dropped.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

/// Serves `app` on `127.0.0.1:0` until the returned [`TestServer`] is dropped.
///
/// Must be called within a Tokio runtime.
///
/// # Errors
///
/// If no port can be bound.
pub async fn serve(app: axum::Router) -> anyhow::Result<TestServer> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding 127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("test server on {addr} failed: {e}");
        }
    });
    Ok(TestServer { addr, task })
}

impl TestServer {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `http://` URL of `path` (which starts with `/`) on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

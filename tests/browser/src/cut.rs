//! Cutting a test server's `/events` streams, to test how pages resume.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use futures_util::StreamExt;
use tokio::sync::watch;

/// One `/events` request as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventsRequest {
    /// Its query string.
    pub query: String,
    /// Its `Last-Event-ID` header, if any.
    pub last_event_id: Option<String>,
}

/// Records a server's `/events` requests, ends every open stream on
/// [`Cutter::cut`] (nothing published after the cut goes out on it) and holds
/// new ones until [`Cutter::release`], so that a test can publish while the
/// page is away and then watch it resume. A page's script triggers both with
/// `POST /test/cut` and `POST /test/release`.
#[derive(Clone, Debug)]
pub struct Cutter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    requests: Mutex<Vec<EventsRequest>>,
    /// Bumped to end every stream open at that time.
    cut: watch::Sender<u64>,
    /// While true, new `/events` requests wait.
    hold: watch::Sender<bool>,
}

impl Default for Cutter {
    fn default() -> Self {
        Cutter {
            inner: Arc::new(Inner {
                requests: Mutex::new(Vec::new()),
                cut: watch::Sender::new(0),
                hold: watch::Sender::new(false),
            }),
        }
    }
}

impl Cutter {
    /// `router` with this cutter around its `/events` route, and the routes
    /// `POST /test/cut` and `POST /test/release`.
    pub fn wrap(&self, router: Router) -> Router {
        let (cut, release) = (self.clone(), self.clone());
        router
            .route(
                "/test/cut",
                post(move || async move {
                    cut.cut();
                    "cut"
                }),
            )
            .route(
                "/test/release",
                post(move || async move {
                    release.release();
                    "released"
                }),
            )
            .layer(middleware::from_fn_with_state(self.clone(), cut_and_hold))
    }

    /// Ends every open `/events` stream and holds new ones.
    pub fn cut(&self) {
        self.inner.hold.send_replace(true);
        self.inner.cut.send_modify(|generation| *generation += 1);
    }

    /// Lets held and new `/events` requests through.
    pub fn release(&self) {
        self.inner.hold.send_replace(false);
    }

    /// The `/events` requests so far, in order.
    pub fn requests(&self) -> Vec<EventsRequest> {
        self.inner
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

async fn cut_and_hold(State(c): State<Cutter>, request: Request, next: Next) -> Response {
    if request.uri().path() != "/events" {
        return next.run(request).await;
    }
    let last_event_id = request
        .headers()
        .get("last-event-id")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let query = request.uri().query().unwrap_or("").to_owned();
    c.inner
        .requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(EventsRequest {
            query,
            last_event_id,
        });
    let _ = c.inner.hold.subscribe().wait_for(|hold| !*hold).await;
    let cut = c.inner.cut.subscribe(); // the current generation counts as seen
    let response = next.run(request).await;
    response.map(|body| until_cut(body, cut))
}

/// The body, ended as soon as `cut` changes.
fn until_cut(body: Body, cut: watch::Receiver<u64>) -> Body {
    let chunks = futures_util::stream::unfold(
        (body.into_data_stream(), cut),
        |(mut chunks, mut cut)| async move {
            let chunk = tokio::select! {
                biased;
                _ = cut.changed() => return None,
                chunk = chunks.next() => chunk?,
            };
            Some((chunk, (chunks, cut)))
        },
    );
    Body::from_stream(chunks)
}

/// The body, ended right after its `n`th event frame (for a page that must
/// reconnect at a known point). The hub writes one frame a chunk; an event
/// frame is a whole block (it ends with a blank line) with an `id:` line,
/// first or after the `retry:` line the first event carries. Comment lines
/// (`:`, the opening one and keep-alives) end no block and are not counted.
pub fn cut_after_events(body: Body, n: usize) -> Body {
    let chunks = futures_util::stream::unfold(
        (body.into_data_stream(), 0),
        move |(mut chunks, seen)| async move {
            if seen == n {
                return None;
            }
            let chunk = chunks.next().await?;
            let seen = match &chunk {
                Ok(bytes) if is_event_frame(bytes) => seen + 1,
                _ => seen,
            };
            Some((chunk, (chunks, seen)))
        },
    );
    Body::from_stream(chunks)
}

/// Whether a chunk of the hub's is an event's frame (see
/// [`cut_after_events`]).
fn is_event_frame(bytes: &[u8]) -> bool {
    let block = match bytes.strip_prefix(b"retry: ") {
        Some(rest) => match rest.iter().position(|&b| b == b'\n') {
            Some(end) => &rest[end + 1..],
            None => return false,
        },
        None => bytes,
    };
    block.starts_with(b"id: ") && block.ends_with(b"\n\n")
}

#[cfg(test)]
mod tests {
    use super::is_event_frame;

    #[test]
    fn event_frames_are_told_from_comments_and_hints() {
        assert!(is_event_frame(b"id: 1\ndata: a\n\n"));
        assert!(is_event_frame(b"retry: 2000\nid: 1\ndata: a\n\n"));
        assert!(!is_event_frame(b":\n"));
        assert!(!is_event_frame(b"retry: 2000\n"));
        assert!(!is_event_frame(b"data: no id\n\n"));
    }
}

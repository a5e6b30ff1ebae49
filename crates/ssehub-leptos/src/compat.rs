//! For apps moving from [leptos_sse](https://crates.io/crates/leptos_sse):
//! its names, over ssehub, so that moving is a change of import.
//!
//! | leptos_sse | here | ssehub's own |
//! |---|---|---|
//! | `leptos_sse::provide_sse(url)` (a `Result`) | [`provide_sse`] | [`crate::provide_sse`] |
//! | `leptos_sse::create_sse_signal::<T>(name)` | [`create_sse_signal`] | [`crate::use_sse_signal`] |
//! | `ServerSentEvents::new(name, stream)`, per connection | [`drive_signal`]`(hub, name, stream)`, once (`ssr`, `axum` or `actix`) | `hub.signal(name, initial)` and `Signal::set` |
//!
//! One difference is deliberate: leptos_sse runs the stream once per
//! connection (each page gets its own sequence of values); here the stream
//! drives one hub signal, which every page shares, and pages that connect
//! later get its current value. See `docs/leptos.md`.

use std::borrow::Cow;
use std::convert::Infallible;

use leptos::prelude::ReadSignal;
use serde::de::DeserializeOwned;

/// leptos_sse's `provide_sse`: [`crate::provide_sse`], which cannot fail
/// (it opens nothing by itself), so that `provide_sse(url).unwrap()` still
/// reads.
///
/// # Errors
///
/// Never.
pub fn provide_sse(url: &str) -> Result<(), Infallible> {
    crate::provide_sse(url);
    Ok(())
}

/// leptos_sse's `create_sse_signal`: [`crate::use_sse_signal`].
///
/// # Panics
///
/// If no [`provide_sse`] was called in this component or an ancestor.
#[track_caller]
pub fn create_sse_signal<T>(name: impl Into<Cow<'static, str>>) -> ReadSignal<T>
where
    T: DeserializeOwned + Default + Send + Sync + 'static,
{
    crate::use_sse_signal(&name.into())
}

#[cfg(any(feature = "ssr", feature = "axum", feature = "actix"))]
pub use server::{drive_signal, DriveError};

#[cfg(any(feature = "ssr", feature = "axum", feature = "actix"))]
mod server {
    use std::error::Error;
    use std::future::poll_fn;
    use std::pin::pin;

    use futures_core::Stream;
    use serde::de::DeserializeOwned;
    use serde::Serialize;
    use ssehub::{Hub, SignalError};

    /// Why [`drive_signal`] stopped.
    #[derive(Debug, thiserror::Error)]
    #[non_exhaustive]
    pub enum DriveError {
        /// The signal could not be created or set (an invalid name, the hub
        /// shut down, a value that does not serialize as JSON).
        #[error(transparent)]
        Signal(#[from] SignalError),
        /// The stream of values yielded an error.
        #[error("the stream of values failed: {0}")]
        Stream(Box<dyn Error + Send + Sync>),
    }

    /// What leptos_sse's `ServerSentEvents::new(name, stream)` did per
    /// connection, once for all: the signal `name` of `hub` (created at
    /// `T::default()`, as leptos_sse starts) takes each value of `values`
    /// in turn; every page sees it. Returns when the stream ends, or with the
    /// first error. Spawn it next to the server:
    ///
    /// ```
    /// # async fn example() {
    /// use ssehub::Hub;
    ///
    /// #[derive(Default, serde::Serialize, serde::Deserialize)]
    /// struct Count {
    ///     value: i32,
    /// }
    ///
    /// let hub = Hub::new();
    /// let mut value = 0;
    /// // leptos_sse's stream of `Result`s, as it was.
    /// let values = futures_util::stream::repeat_with(move || {
    ///     value += 1;
    ///     Ok::<_, std::io::Error>(Count { value })
    /// });
    /// tokio::spawn(ssehub_leptos::compat::drive_signal(hub.clone(), "counter", values));
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`DriveError::Signal`] if the signal cannot be created or set,
    /// [`DriveError::Stream`] with the stream's first error.
    pub async fn drive_signal<T, E, S>(hub: Hub, name: &str, values: S) -> Result<(), DriveError>
    where
        T: Serialize + DeserializeOwned + Default,
        E: Into<Box<dyn Error + Send + Sync>>,
        S: Stream<Item = Result<T, E>>,
    {
        let signal = hub.signal(name, T::default()).await?;
        let mut values = pin!(values);
        while let Some(value) = poll_fn(|cx| values.as_mut().poll_next(cx)).await {
            signal
                .set(value.map_err(|e| DriveError::Stream(e.into()))?)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use leptos::prelude::*;

    #[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Count {
        value: i32,
    }

    #[test]
    fn leptos_sse_names_give_ssehub_signals() {
        Owner::new().with(|| {
            super::provide_sse("/events").unwrap();
            let count = super::create_sse_signal::<Count>("counter");
            assert_eq!(count.get_untracked(), Count::default());
        });
    }

    #[cfg(any(feature = "ssr", feature = "axum", feature = "actix"))]
    #[tokio::test]
    async fn a_stream_of_values_drives_a_signal_until_it_ends_or_fails() {
        use super::{drive_signal, DriveError};

        let hub = ssehub::Hub::new();
        let values = |items: Vec<Result<Count, std::io::Error>>| futures_util::stream::iter(items);
        let ok = |value| Ok(Count { value });
        drive_signal(hub.clone(), "counter", values(vec![ok(1), ok(2)]))
            .await
            .unwrap();
        // Created at the default (version 0), then one change per value.
        assert_eq!(
            hub.signal_value("counter").await.unwrap(),
            Some((2, serde_json::json!({ "value": 2 })))
        );
        let failing = values(vec![ok(3), Err(std::io::Error::other("gone")), ok(4)]);
        let e = drive_signal(hub.clone(), "counter", failing)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, DriveError::Stream(e) if e.to_string() == "gone"),
            "{e}"
        );
        assert_eq!(
            hub.signal_value("counter").await.unwrap(),
            Some((3, serde_json::json!({ "value": 3 })))
        );
        // A name that cannot be a signal's.
        let e = drive_signal(hub, "a\nb", values(vec![ok(5)]))
            .await
            .unwrap_err();
        assert!(matches!(e, DriveError::Signal(_)), "{e}");
    }
}

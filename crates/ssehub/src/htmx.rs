//! Events for [htmx](https://htmx.org) pages: HTML fragments to swap,
//! out-of-band swaps, client-side triggers, the close event, and escaping.
//!
//! Each helper builds an ordinary [`Event`] (or, for [`oob`], the HTML of
//! one), published like any other: `hub.publish(topic, event)`. The data is
//! HTML; any line breaks in it travel as several `data:` lines and reach the
//! page joined with LF, which HTML does not tell apart from CRLF.
//!
//! # With htmx 2 and htmx-ext-sse
//!
//! | on the server | in the page |
//! |---|---|
//! | a subscription on `/events` | `<div hx-ext="sse" sse-connect="/events?topic=tasks">` |
//! | [`swap`]`("task", html)` | `<ul sse-swap="task" hx-swap="beforeend">`: the fragment is appended |
//! | [`fragment`]`(html)` (no event type) | `<ul sse-swap="message" hx-swap="beforeend">` |
//! | [`oob`]`("innerHTML", "#done", "3")` inside any fragment | replaces the content of `#done` wherever it is |
//! | [`trigger`]`("refresh", "")` | `<div hx-get="/list" hx-trigger="sse:refresh">`: the element makes its request |
//! | [`close`]`("bye")` | `<div hx-ext="sse" sse-connect="..." sse-close="bye">`: the page stops listening |
//!
//! htmx-ext-sse opens a new `EventSource` by itself after an error, without
//! the last event id it saw: events published meanwhile are silently
//! missed. Load `ssehub-htmx.js` (in the repository's `js/`) after the
//! extension: it remembers the last id of each stream and reconnects with
//! `?lastEventId=`, which the hub resumes from (see `docs/htmx.md`).
//!
//! # With htmx 4
//!
//! htmx 4's `hx-sse` extension reads the stream with `fetch` and resumes by
//! itself (it sends `Last-Event-ID` when it reconnects). It swaps events
//! that have no type ([`fragment`]) into the element's target:
//! `<main hx-sse:connect="/events?topic=tasks" hx-target="#tasks"
//! hx-swap="beforeend">`. Events with a type ([`swap`], [`trigger`]) become
//! DOM events of that name on the element instead (`hx-trigger="refresh"`),
//! and `hx-sse:close="bye"` stops on [`close`]`("bye")`. So a stream meant
//! for both htmx 2 and htmx 4 pages sends [`fragment`]s, which htmx 2 swaps
//! with `sse-swap="message"`.
//!
//! # Example
//!
//! ```
//! use ssehub::{htmx, Hub};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = Hub::new();
//! let title = "Buy <milk> & eggs";
//! // Appended to `<ul sse-swap="task" hx-swap="beforeend">`, and the
//! // counter elsewhere in the page updated out of band.
//! let html = format!(
//!     "<li>{}</li>{}",
//!     htmx::escape(title),
//!     htmx::oob("innerHTML", "#count", "1"),
//! );
//! hub.publish("tasks", htmx::swap("task", &html)).await?;
//! assert_eq!(
//!     html,
//!     r##"<li>Buy &lt;milk&gt; &amp; eggs</li><div hx-swap-oob="innerHTML:#count">1</div>"##
//! );
//! # Ok(()) }
//! ```

use std::borrow::Cow;

use ssehub_core::Event;

/// An event of type `event` whose data is the HTML fragment `html`, for
/// the elements of an htmx 2 page with `sse-swap="{event}"`; they swap it
/// as their `hx-swap` says (`innerHTML` unless told otherwise).
///
/// # Panics
///
/// If `event` is not a name htmx can listen for (see [`is_event_name`]):
/// names are part of the program, so this is a programmer's mistake.
pub fn swap(event: &str, html: &str) -> Event {
    named(event, html)
}

/// An event without a type (a `message`) whose data is the HTML fragment
/// `html`: what htmx 4's `hx-sse:connect` swaps into its target, and what
/// htmx 2 swaps with `sse-swap="message"`.
pub fn fragment(html: &str) -> Event {
    Event::data(html)
}

/// `html` wrapped for an out-of-band swap: `<div
/// hx-swap-oob="{swap}:{target}">{html}</div>`. Put it in any fragment that
/// htmx swaps (next to the main content, or alone): htmx takes it out and
/// swaps `html` into every element that the CSS selector `target` matches,
/// with the swap style `swap` (`innerHTML`, `beforeend`, `outerHTML`...).
/// Both htmx 2 and htmx 4 swap the wrapper's content, not the `div`,
/// except with `outerHTML`, which replaces the target by the `div` itself.
///
/// `swap` and `target` are escaped for the attribute; `html` is put in as
/// it is. Inside a `<table>`, a `div` is not allowed where rows are: send
/// the rows with their own `hx-swap-oob` attribute instead.
pub fn oob(swap: &str, target: &str, html: &str) -> String {
    format!(
        "<div hx-swap-oob=\"{}:{}\">{html}</div>",
        escape(swap),
        escape(target)
    )
}

/// An event of type `name` carrying `data`, for elements that act on it
/// rather than swap it: `hx-trigger="sse:{name}"` in htmx 2 (the element
/// makes its request, `hx-get` say), a DOM event `name` on the
/// `hx-sse:connect` element in htmx 4 (with `{data, id}` as its detail).
/// `data` may be empty.
///
/// # Panics
///
/// If `name` is not a name htmx can listen for (see [`is_event_name`]).
pub fn trigger(name: &str, data: &str) -> Event {
    named(name, data)
}

/// The event that makes a page stop listening: `sse-close="{name}"` in
/// htmx 2, `hx-sse:close="{name}"` in htmx 4. Without it a page whose
/// stream ends reconnects.
///
/// # Panics
///
/// If `name` is not a name htmx can listen for (see [`is_event_name`]).
pub fn close(name: &str) -> Event {
    named(name, "")
}

/// Whether htmx can listen for events named `name`: not empty, and no
/// whitespace or comma (the separators of `sse-swap` and `hx-trigger`),
/// which also rules out line breaks (that the wire format cannot carry in
/// an event type). `message` is the type of events without one.
pub fn is_event_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == ',')
}

fn named(name: &str, data: &str) -> Event {
    assert!(
        is_event_name(name),
        "{name:?} is not an event name htmx can listen for (empty, or whitespace or a comma in it)"
    );
    Event::builder()
        .event(name)
        .data(data)
        .build()
        .expect("an event name without line breaks is valid")
}

/// `text` with the five characters that HTML gives a meaning (`&`, `<`,
/// `>`, `"`, `'`) replaced by their character references: safe in element
/// content and in quoted attribute values. Borrows `text` when there is
/// nothing to replace.
///
/// ```
/// assert_eq!(ssehub::htmx::escape(r#"<a href="x">Tom & Jerry's</a>"#),
///            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;");
/// ```
//
// Written here rather than taken from a crate: the rule is these five
// characters and will not change, and a dependency of every ssehub user
// for a dozen lines is not worth it.
pub fn escape(text: &str) -> Cow<'_, str> {
    let Some(first) = text.find(['&', '<', '>', '"', '\'']) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssehub_core::{parse_all, Item, MessageEvent};

    /// What a browser's `EventSource` reads from `event`.
    fn read(event: &Event) -> MessageEvent {
        match parse_all(&event.encode())
            .expect("a valid frame")
            .as_slice()
        {
            [Item::Event(e)] => e.clone(),
            items => panic!("expected one event, got {items:?}"),
        }
    }

    #[test]
    fn a_swap_event_carries_multi_line_html_intact() {
        let html = "<li class=\"task\">\r\n  <b>one</b>\n</li>\r  \n";
        let e = read(&swap("task-added", html));
        assert_eq!(e.event, "task-added");
        // Line breaks arrive as LF; nothing else changes.
        assert_eq!(e.data, "<li class=\"task\">\n  <b>one</b>\n</li>\n  \n");
    }

    #[test]
    fn a_fragment_has_no_type() {
        let e = read(&fragment("<p>x</p>"));
        assert_eq!((e.event.as_str(), e.data.as_str()), ("message", "<p>x</p>"));
        assert!(!fragment("").as_bytes().starts_with(b"event:"));
    }

    #[test]
    fn triggers_and_close_events_are_dispatched_even_without_data() {
        // An event is dispatched only if it has a `data:` line, even empty.
        for (event, name, data) in [
            (trigger("refresh", ""), "refresh", ""),
            (trigger("notice", "{\"n\":1}"), "notice", "{\"n\":1}"),
            (close("bye"), "bye", ""),
        ] {
            let e = read(&event);
            assert_eq!((e.event.as_str(), e.data.as_str()), (name, data));
        }
    }

    #[test]
    fn oob_wraps_and_escapes_its_attribute() {
        assert_eq!(
            oob("innerHTML", "#done", "<b>3</b>"),
            "<div hx-swap-oob=\"innerHTML:#done\"><b>3</b></div>"
        );
        assert_eq!(
            oob("beforeend", "[data-x=\"a&b\"]", ""),
            "<div hx-swap-oob=\"beforeend:[data-x=&quot;a&amp;b&quot;]\"></div>"
        );
    }

    #[test]
    fn escape_replaces_exactly_the_five_characters() {
        assert!(matches!(escape("plain text, ✓ 漢字"), Cow::Borrowed(_)));
        assert_eq!(escape(""), "");
        assert_eq!(
            escape("a&b<c>d\"e'f&amp;"),
            "a&amp;b&lt;c&gt;d&quot;e&#39;f&amp;amp;"
        );
        assert_eq!(escape("é<😀>"), "é&lt;😀&gt;");
    }

    #[test]
    fn event_names() {
        for good in ["task", "task-added", "ns:done", "ssehub-reset", "x"] {
            assert!(is_event_name(good), "{good:?}");
        }
        for bad in ["", "a b", "a,b", "a\nb", "a\rb", "a\tb", " a"] {
            assert!(!is_event_name(bad), "{bad:?}");
        }
    }

    #[test]
    #[should_panic(expected = "not an event name")]
    fn a_name_with_a_comma_is_a_programmers_mistake() {
        let _ = swap("a,b", "<p></p>");
    }

    #[test]
    #[should_panic(expected = "not an event name")]
    fn a_name_with_a_line_break_is_a_programmers_mistake() {
        let _ = trigger("a\nb", "");
    }

    proptest::proptest! {
        #[test]
        fn escaped_text_has_no_markup_and_unescapes_back(text in "\\PC*") {
            let escaped = escape(&text);
            proptest::prop_assert!(!escaped.contains(['<', '>', '"', '\'']));
            let back = escaped
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&amp;", "&");
            proptest::prop_assert_eq!(back, text);
        }
    }
}

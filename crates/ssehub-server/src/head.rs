//! A connection's first request head, as the direct path (`conn.rs`) reads
//! it, a read at a time: is it a whole `GET /events` head yet, something
//! else (for hyper), or beyond the bounds?
//!
//! Only `http` and `httparse` here, so that the fuzz target
//! (`fuzz/fuzz_targets/head.rs`) compiles this very file.

use http::request::Parts;
use http::{Method, Request};

/// Longest request head taken, on this path and hyper's (nginx's default
/// `large_client_header_buffers` is 4 x 8 KiB; hyper's own limit is about
/// 400 KiB): longer heads are answered 431 `request_header_too_large`.
pub(crate) const MAX_HEAD: usize = 16 << 10;
/// Most header fields in a request head; more is 431 `too_many_headers`.
pub(crate) const MAX_HEADERS: usize = 64;

/// What the bytes read so far are.
#[derive(Debug)]
pub(crate) enum Head {
    /// A whole `GET /events` head, without a body.
    Events(Box<Parts>),
    /// Not whole yet: read more.
    Partial,
    /// A head longer than [`MAX_HEAD`] (whole or not).
    TooLarge,
    /// More than [`MAX_HEADERS`] header fields.
    TooManyHeaders,
    /// Anything else, malformed included: hyper deals with it.
    Other,
}

/// Classifies the bytes read so far. The answer for a prefix that is not
/// [`Head::Partial`] is the answer for any longer input too, so reading
/// more never changes it: any split of a head reads the same.
pub(crate) fn classify(buf: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) if len > MAX_HEAD => return Head::TooLarge,
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => return Head::TooLarge,
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(httparse::Error::TooManyHeaders) => return Head::TooManyHeaders,
        Err(_) => return Head::Other,
    }
    let (Some("GET"), Some(path), Some(1)) = (req.method, req.path, req.version) else {
        return Head::Other;
    };
    if path.split('?').next() != Some("/events") {
        return Head::Other;
    }
    let mut builder = Request::builder().method(Method::GET).uri(path);
    for h in req.headers.iter() {
        let has_body = (h.name.eq_ignore_ascii_case("content-length") && h.value != b"0")
            || h.name.eq_ignore_ascii_case("transfer-encoding");
        if has_body {
            return Head::Other;
        }
        builder = builder.header(h.name, h.value);
    }
    match builder.body(()) {
        Ok(req) => Head::Events(Box::new(req.into_parts().0)),
        Err(_) => Head::Other,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Reads `input` as the direct path does, in pieces of the given sizes,
    /// until it is not partial.
    fn read_in_pieces(input: &[u8], sizes: &[usize]) -> (usize, Head) {
        let mut read = 0;
        let mut sizes = sizes.iter().cycle();
        while read < input.len() {
            read = (read + sizes.next().copied().unwrap_or(1).max(1)).min(input.len());
            match classify(&input[..read]) {
                Head::Partial => continue,
                done => return (read, done),
            }
        }
        (read, classify(input))
    }

    fn summary(head: &Head) -> String {
        match head {
            Head::Events(parts) => {
                let headers: Vec<_> = parts.headers.iter().collect();
                format!("events {} {headers:?}", parts.uri)
            }
            other => format!("{other:?}"),
        }
    }

    fn valid_head() -> impl Strategy<Value = Vec<u8>> {
        let header = ("[a-zA-Z][a-zA-Z0-9-]{0,12}", "[ -~]{0,40}");
        (
            "[a-z0-9/%*]{1,20}",
            prop::collection::vec(header, 0..20),
            prop::option::of("[a-zA-Z0-9-]{0,20}"),
        )
            .prop_map(|(topic, headers, last)| {
                let mut head = format!("GET /events?topic={topic} HTTP/1.1\r\nHost: hub\r\n");
                for (name, value) in headers {
                    if !name.eq_ignore_ascii_case("content-length")
                        && !name.eq_ignore_ascii_case("transfer-encoding")
                    {
                        head.push_str(&format!("{name}: {}\r\n", value.trim()));
                    }
                }
                if let Some(last) = last {
                    head.push_str(&format!("Last-Event-ID: {last}\r\n"));
                }
                head.push_str("\r\n");
                head.into_bytes()
            })
    }

    proptest! {
        /// Any split of a valid head reads the same as the whole.
        #[test]
        fn any_split_of_a_valid_head_reads_the_same(
            head in valid_head(),
            sizes in prop::collection::vec(1usize..40, 1..8),
        ) {
            let whole = classify(&head);
            prop_assert!(matches!(whole, Head::Events(_)), "{}", summary(&whole));
            let (read, pieces) = read_in_pieces(&head, &sizes);
            prop_assert_eq!(read, head.len(), "complete only at its end");
            prop_assert_eq!(summary(&pieces), summary(&whole));
        }

        /// For any bytes, what stops the reading is what the whole says.
        #[test]
        fn reading_more_never_changes_an_answer(
            input in prop::collection::vec(any::<u8>(), 0..400),
            sizes in prop::collection::vec(1usize..40, 1..8),
        ) {
            let (read, pieces) = read_in_pieces(&input, &sizes);
            if !matches!(pieces, Head::Partial) {
                prop_assert_eq!(summary(&pieces), summary(&classify(&input)));
                prop_assert_eq!(summary(&pieces), summary(&classify(&input[..read])));
            }
        }
    }

    #[test]
    fn the_bounds_hold_whole_or_not() {
        let mut big = b"GET /events?topic=t HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_HEAD + 10, b'a');
        assert!(matches!(classify(&big), Head::TooLarge));
        big.extend_from_slice(b"\r\n\r\n");
        assert!(
            matches!(classify(&big), Head::TooLarge),
            "whole, but too long"
        );
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        let head = format!("GET /events?topic=t HTTP/1.1\r\n{many}\r\n");
        assert!(matches!(classify(head.as_bytes()), Head::TooManyHeaders));
        let post = b"POST /events?topic=t HTTP/1.1\r\nHost: x\r\n\r\n";
        assert!(matches!(classify(post), Head::Other));
        let body = b"GET /events?topic=t HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
        assert!(matches!(classify(body), Head::Other));
    }
}

//! Topic names.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

/// A topic name: any non-empty string, shared cheaply.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(Arc<str>);

/// Why a topic name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// The name is empty.
    #[error("a topic name cannot be empty")]
    Empty,
    /// No topic was given at all.
    #[error("at least one topic is needed")]
    None,
}

impl Topic {
    /// Checks and wraps a name.
    pub fn new(name: &str) -> Result<Topic, TopicError> {
        if name.is_empty() {
            Err(TopicError::Empty)
        } else {
            Ok(Topic(Arc::from(name)))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The length of the name in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: topic names are never empty.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Borrow<str> for Topic {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// Anything that names one or more topics: `"a"`, `["a", "b"]`, `vec![..]`,
/// a slice of `&str`, `String` or [`Topic`].
pub trait IntoTopics {
    /// The topics, checked, without duplicates, in the given order.
    fn into_topics(self) -> Result<Vec<Topic>, TopicError>;
}

fn collect<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<Topic>, TopicError> {
    let mut topics: Vec<Topic> = Vec::new();
    for name in names {
        if !topics.iter().any(|t| t.as_str() == name) {
            topics.push(Topic::new(name)?);
        }
    }
    if topics.is_empty() {
        return Err(TopicError::None);
    }
    Ok(topics)
}

impl IntoTopics for &str {
    fn into_topics(self) -> Result<Vec<Topic>, TopicError> {
        collect([self])
    }
}

impl IntoTopics for &String {
    fn into_topics(self) -> Result<Vec<Topic>, TopicError> {
        collect([self.as_str()])
    }
}

impl IntoTopics for String {
    fn into_topics(self) -> Result<Vec<Topic>, TopicError> {
        collect([self.as_str()])
    }
}

impl IntoTopics for Topic {
    fn into_topics(self) -> Result<Vec<Topic>, TopicError> {
        Ok(vec![self])
    }
}

impl<S: AsRef<str>> IntoTopics for &[S] {
    fn into_topics(self) -> Result<Vec<Topic>, TopicError> {
        collect(self.iter().map(AsRef::as_ref))
    }
}

impl<S: AsRef<str>, const N: usize> IntoTopics for [S; N] {
    fn into_topics(self) -> Result<Vec<Topic>, TopicError> {
        collect(self.iter().map(AsRef::as_ref))
    }
}

impl<S: AsRef<str>> IntoTopics for Vec<S> {
    fn into_topics(self) -> Result<Vec<Topic>, TopicError> {
        collect(self.iter().map(AsRef::as_ref))
    }
}

impl AsRef<str> for Topic {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A topic pattern: `/`-separated segments where `*` matches exactly one
/// segment and `**`, as the last segment, matches any rest, none included
/// (`chat/*` matches `chat/42`, not `chat/42/x` nor `chat`; `chat/**` matches
/// all three; `**` matches every topic). Any other segment, `a*b` included,
/// matches only itself.
///
/// Topics that start with `$` are the hub's own (`$presence/T`, `$user/U`,
/// `$conn/ID`): a pattern matches them only if it starts with `$` too, so
/// `**` (or a grant of `**`) never reaches them; `$user/*` does.
///
/// ```
/// use ssehub::TopicPattern;
///
/// let p = TopicPattern::new("chat/*");
/// assert!(p.matches("chat/42"));
/// assert!(!p.matches("chat/42/x"));
/// assert!(TopicPattern::new("chat/**").matches("chat/42/x"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TopicPattern(Arc<str>);

impl TopicPattern {
    /// A pattern (every string is one; without wildcards it is a topic name).
    pub fn new(pattern: &str) -> TopicPattern {
        TopicPattern(Arc::from(pattern))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the pattern has wildcards (else it matches only itself).
    pub fn is_wildcard(&self) -> bool {
        self.0.split('/').any(|s| s == "*" || s == "**")
    }

    /// Whether `topic` matches.
    pub fn matches(&self, topic: &str) -> bool {
        if hubs_own(topic) && !hubs_own(&self.0) {
            return false;
        }
        let mut pattern = self.0.split('/');
        let mut topic = topic.split('/');
        loop {
            match (pattern.next(), topic.next()) {
                (Some("**"), _) if pattern.clone().next().is_none() => return true,
                (Some("*"), Some(_)) => {}
                (Some(p), Some(t)) if p == t => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }
}

impl TopicPattern {
    /// Whether every topic `requested` (itself a pattern) matches is matched
    /// by this pattern: how a grant covers a subscription (`chat/*` covers
    /// `chat/1` and `chat/*`, not `chat/**`).
    pub fn covers(&self, requested: &str) -> bool {
        if hubs_own(requested) && !hubs_own(&self.0) {
            return false;
        }
        let mut grant = self.0.split('/');
        let mut want = requested.split('/');
        loop {
            match (grant.next(), want.next()) {
                (Some("**"), _) if grant.clone().next().is_none() => return true,
                (Some(_), Some("**")) => return false,
                (Some("*"), Some(_)) => {}
                (Some(g), Some(w)) if g == w && w != "*" => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }
}

/// Whether a topic (or pattern) is one of the hub's own: it starts with `$`.
fn hubs_own(topic: &str) -> bool {
    topic.starts_with('$')
}

/// Whether a client may publish to `topic` (given a grant that covers it):
/// any topic but the hub's own (`$...`), except `$user/U` (to one user's
/// streams) and `$conn/ID` (to one stream). `$presence/T` and every other
/// `$` topic are the hub's to publish.
pub fn publishable_by_clients(topic: &str) -> bool {
    !hubs_own(topic) || topic.starts_with("$user/") || topic.starts_with("$conn/")
}

impl fmt::Display for TopicPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let cases = [
            ("chat/*", "chat/42", true),
            ("chat/*", "chat/42/x", false),
            ("chat/*", "chat", false),
            ("chat/*", "chat/", true),
            ("chat/**", "chat", true),
            ("chat/**", "chat/42/x", true),
            ("chat/**", "chatter", false),
            ("**", "anything/at/all", true),
            ("*", "a", true),
            ("*", "a/b", false),
            ("*/x", "a/x", true),
            ("a/**/b", "a/z/b", false), // `**` only as the last segment
            ("a/**/b", "a/**/b", true),
            ("a*b", "axb", false),
            ("a*b", "a*b", true),
            ("news", "news", true),
            ("news", "news/1", false),
        ];
        for (pattern, topic, expected) in cases {
            assert_eq!(
                TopicPattern::new(pattern).matches(topic),
                expected,
                "{pattern} ~ {topic}"
            );
        }
        for (grant, requested, expected) in [
            ("chat/*", "chat/1", true),
            ("chat/*", "chat/*", true),
            ("chat/*", "chat/**", false),
            ("chat/**", "chat/*", true),
            ("chat/**", "chat/**", true),
            ("chat/**", "chat", true),
            ("chat/1", "chat/*", false),
            ("**", "**", true),
            ("*", "**", false),
            ("a/*", "a/b/c", false),
        ] {
            assert_eq!(
                TopicPattern::new(grant).covers(requested),
                expected,
                "{grant} covers {requested}"
            );
        }
        assert!(TopicPattern::new("a/*").is_wildcard());
        assert!(!TopicPattern::new("a*b").is_wildcard());
    }

    #[test]
    fn the_hubs_own_topics_are_matched_only_by_dollar_patterns() {
        for (pattern, topic, expected) in [
            ("**", "$user/alice", false),
            ("*/alice", "$user/alice", false),
            ("*/*", "$presence/chat", false),
            ("$user/*", "$user/alice", true),
            ("$user/alice", "$user/alice", true),
            ("$presence/**", "$presence/chat/1", true),
            ("**", "user/alice", true),
        ] {
            assert_eq!(
                TopicPattern::new(pattern).matches(topic),
                expected,
                "{pattern} ~ {topic}"
            );
        }
        for (grant, requested, expected) in [
            ("**", "$user/alice", false),
            ("**", "$user/*", false),
            ("$user/**", "$user/alice", true),
            ("$conn/*", "$conn/abc", true),
        ] {
            assert_eq!(
                TopicPattern::new(grant).covers(requested),
                expected,
                "{grant} covers {requested}"
            );
        }
        for (topic, expected) in [
            ("chat/1", true),
            ("$user/alice", true),
            ("$conn/abc", true),
            ("$presence/chat", false),
            ("$anything", false),
        ] {
            assert_eq!(super::publishable_by_clients(topic), expected, "{topic}");
        }
    }
}

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

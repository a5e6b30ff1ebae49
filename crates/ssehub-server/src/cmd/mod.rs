//! One module per subcommand.

pub(crate) mod config;
pub(crate) mod parse;
pub(crate) mod publish;
pub(crate) mod secret;
pub(crate) mod serve;
pub(crate) mod tail;
pub(crate) mod token;

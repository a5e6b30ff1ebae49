//! One module per subcommand.

pub(crate) mod parse;
pub(crate) mod serve;
pub(crate) mod tail;

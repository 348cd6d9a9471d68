//! One module per subcommand.

pub mod ask;
pub mod config;

//! [`Origin`]: where the value of an option came from.

/// Where the value of an option came from. Later variants win over earlier ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Origin {
    /// Not set anywhere: the built-in default.
    Default,
    /// The dotenv-style config file.
    File,
    /// An environment variable.
    Environment,
    /// A command-line flag.
    CommandLine,
    /// [`ConfigBuilder::with_config`](super::ConfigBuilder::with_config).
    Code,
}

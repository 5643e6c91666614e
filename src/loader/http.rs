//! HTTP loader (being written).

/// Loads source images over HTTP(S).
#[derive(Clone, Debug)]
pub struct HttpLoader {}

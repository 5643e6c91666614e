//! File loader (being written).

/// Loads source images from a directory.
#[derive(Clone, Debug)]
pub struct FileLoader {}

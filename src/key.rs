//! Storage keys (being written).

//! Pixel work: decode, geometry, filters, encode. Synchronous and free of HTTP and tokio.
//!
//! (Being written.)

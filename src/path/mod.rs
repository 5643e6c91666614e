//! The imagor URL grammar: parse, generate, sign and verify.
//!
//! (Being written: parse/generate/sign land here.)

mod params;

pub use params::{Filter, HAlign, Params, TrimBy, VAlign};

//! The filters of a URL's `filters:` list: the one registry of every filter name the engine
//! and the HTTP service know, and what the engine reads from the list.
//!
//! Every known name has one [`FilterSpec`] in the registry ([`lookup`], [`filters`]): its
//! [`FilterKind`] (who acts on it), its argument parser ([`FilterSpec::args`]), and its cost:
//! whether it counts toward the filter-op limit ([`FilterSpec::counts_as_op`], imagor's
//! `VIPS_MAX_FILTER_OPS`) and how the work budget weighs it ([`estimate`](super::estimate)).
//! The filter policy ([`FilterPolicy`](super::FilterPolicy)), the pipeline, the work
//! estimate and the service all read the registry, so adding a filter is one entry there.
//!
//! Names the registry does not know are ignored by every stage, as imagor ignores unknown
//! filters; they still take a position in the list (which the filter-op limit counts) and can
//! be disabled like any other name.
//!
//! # Example
//!
//! ```
//! use imagor_tower::processing::filter::{self, FilterKind};
//!
//! let fill = filter::lookup("fill").unwrap();
//! assert_eq!(fill.kind(), FilterKind::Pipeline);
//! assert!(fill.counts_as_op());
//! assert_eq!(filter::lookup("quality").map(|f| f.kind()), Some(FilterKind::Encoder));
//! assert_eq!(filter::lookup("expire").map(|f| f.kind()), Some(FilterKind::Service));
//! assert!(filter::lookup("no_such_filter").is_none());
//!
//! // The argument parser splits the text between the parentheses.
//! let padding = filter::lookup("padding").unwrap();
//! assert_eq!(padding.args("red,5,10"), ["red", "5", "10"]);
//! let image = filter::lookup("image").unwrap();
//! assert_eq!(image.args("/10x10/filters:fill(red,1)/a.png,0,0"), ["/10x10/filters:fill(red,1)/a.png", "0", "0"]);
//! ```

mod registry;
mod settings;

pub(crate) use registry::Weight;
pub use registry::{FilterKind, FilterSpec, filters, lookup};
pub(crate) use settings::{OutputRequest, Settings, focal_point};

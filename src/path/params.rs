//! [`Params`]: the parsed fields of an imagor URL path.

/// Which corner's colour `trim` removes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TrimBy {
    /// The top-left pixel's colour (the default).
    #[default]
    TopLeft,
    /// The bottom-right pixel's colour.
    BottomRight,
}

/// Horizontal alignment of a crop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HAlign {
    /// `left`
    Left,
    /// `right`
    Right,
    /// `center` (stored, but behaves as "not given")
    Center,
}

/// Vertical alignment of a crop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VAlign {
    /// `top`
    Top,
    /// `bottom`
    Bottom,
    /// `middle` (stored, but behaves as "not given")
    Middle,
}

/// One `name(args)` entry of the `filters:` segment. `args` is the raw text between the
/// parentheses; split it with [`split_args`](super::split_args).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Filter {
    /// The filter name (not validated by the parser).
    pub name: String,
    /// The raw argument text.
    pub args: String,
}

impl Filter {
    /// A filter `name(args)`.
    pub fn new(name: impl Into<String>, args: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            args: args.into(),
        }
    }
}

/// Every field of an imagor URL path, named as imagor's `/params` JSON names them.
///
/// Widths, heights and paddings are `i64` like imagor's integers; a negative width or height
/// set by a program is written as a flip when the path is generated.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params {
    /// The path began with `params/` (the debug endpoint).
    pub params_endpoint: bool,
    /// Everything after the signature segment, as received (the signed text).
    pub path: String,
    /// The decoded source image key.
    pub image: String,
    /// `image` was given as `b64:` and decoded.
    pub base64_image: bool,
    /// The signature segment was the literal `unsafe`.
    pub is_unsafe: bool,
    /// The signature segment, when it was not `unsafe`.
    pub hash: String,
    /// `meta/`: answer with JSON metadata.
    pub meta: bool,
    /// `trim` segment present.
    pub trim: bool,
    /// The corner whose colour trim removes, when given.
    pub trim_by: Option<TrimBy>,
    /// Trim tolerance (0 = the processor's default).
    pub trim_tolerance: i64,
    /// Manual crop, left.
    pub crop_left: f64,
    /// Manual crop, top.
    pub crop_top: f64,
    /// Manual crop, right.
    pub crop_right: f64,
    /// Manual crop, bottom.
    pub crop_bottom: f64,
    /// Any fit-in keyword.
    pub fit_in: bool,
    /// `adaptive-fit-in` or `adaptive-full-fit-in`.
    pub adaptive_fit_in: bool,
    /// `full-fit-in` or `adaptive-full-fit-in`.
    pub full_fit_in: bool,
    /// `stretch`.
    pub stretch: bool,
    /// Target width (0 = derive).
    pub width: i64,
    /// Target height (0 = derive).
    pub height: i64,
    /// Padding, left.
    pub padding_left: i64,
    /// Padding, top.
    pub padding_top: i64,
    /// Padding, right.
    pub padding_right: i64,
    /// Padding, bottom.
    pub padding_bottom: i64,
    /// Mirror horizontally (minus sign on the width).
    pub h_flip: bool,
    /// Mirror vertically (minus sign on the height).
    pub v_flip: bool,
    /// Horizontal alignment, when given.
    pub h_align: Option<HAlign>,
    /// Vertical alignment, when given.
    pub v_align: Option<VAlign>,
    /// `smart` crop.
    pub smart: bool,
    /// Filters in URL order.
    pub filters: Vec<Filter>,
}

//! [`Params`]: the parsed fields of an imagor URL path.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::{Params, TrimBy};
//!
//! let p = Params { trim: true, trim_by: Some(TrimBy::BottomRight), image: "a.png".into(), ..Params::default() };
//! assert_eq!(p.generate(), "trim:bottom-right/a.png");
//! ```

/// Which corner's colour `trim` removes.
///
/// # Example
///
/// ```
/// use imagor_tower::path::{parse, TrimBy};
///
/// assert_eq!(parse("unsafe/trim/a.png").trim_by, Some(TrimBy::TopLeft));
/// assert_eq!(parse("unsafe/trim:bottom-right:10/a.png").trim_by, Some(TrimBy::BottomRight));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TrimBy {
    /// The top-left pixel's colour (the default).
    #[default]
    TopLeft,
    /// The bottom-right pixel's colour.
    BottomRight,
}

impl TrimBy {
    /// The name used in paths and in `/params` JSON.
    ///
    /// # Example
    ///
    /// ```
    /// use imagor_tower::path::TrimBy;
    ///
    /// assert_eq!(TrimBy::TopLeft.as_str(), "top-left");
    /// assert_eq!(TrimBy::BottomRight.as_str(), "bottom-right");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TopLeft => "top-left",
            Self::BottomRight => "bottom-right",
        }
    }
}

/// Horizontal alignment of a crop.
///
/// # Example
///
/// ```
/// use imagor_tower::path::{parse, HAlign};
///
/// assert_eq!(parse("unsafe/100x100/right/a.png").h_align, Some(HAlign::Right));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HAlign {
    /// `left`
    Left,
    /// `right`
    Right,
    /// `center` (stored, but behaves as "not given")
    Center,
}

impl HAlign {
    /// The path keyword (`left`, `right`, `center`).
    ///
    /// # Example
    ///
    /// ```
    /// use imagor_tower::path::HAlign;
    ///
    /// assert_eq!(HAlign::Right.as_str(), "right");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Left => "left",
            Self::Right => "right",
            Self::Center => "center",
        }
    }
}

/// Vertical alignment of a crop.
///
/// # Example
///
/// ```
/// use imagor_tower::path::{parse, VAlign};
///
/// assert_eq!(parse("unsafe/100x100/top/a.png").v_align, Some(VAlign::Top));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VAlign {
    /// `top`
    Top,
    /// `bottom`
    Bottom,
    /// `middle` (stored, but behaves as "not given")
    Middle,
}

impl VAlign {
    /// The path keyword (`top`, `bottom`, `middle`).
    ///
    /// # Example
    ///
    /// ```
    /// use imagor_tower::path::VAlign;
    ///
    /// assert_eq!(VAlign::Bottom.as_str(), "bottom");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Top => "top",
            Self::Bottom => "bottom",
            Self::Middle => "middle",
        }
    }
}

/// One `name(args)` entry of the `filters:` segment. `args` is the raw text between the
/// parentheses; split it with [`split_args`](super::split_args).
///
/// # Example
///
/// ```
/// use imagor_tower::path::{parse, Filter};
///
/// let p = parse("unsafe/filters:quality(80):grayscale()/a.jpg");
/// assert_eq!(p.filters, [Filter::new("quality", "80"), Filter::new("grayscale", "")]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Filter {
    /// The filter name (not validated by the parser).
    pub name: String,
    /// The raw argument text.
    pub args: String,
}

impl Filter {
    /// A filter `name(args)`.
    ///
    /// # Example
    ///
    /// ```
    /// use imagor_tower::path::{split_args, Filter};
    ///
    /// let f = Filter::new("fill", "white,1");
    /// assert_eq!(split_args(&f.args), ["white", "1"]);
    /// ```
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
///
/// Build one with [`parse`](super::parse) or by hand, and turn it back into a path with
/// [`generate`](Params::generate).
///
/// # Example
///
/// ```
/// use imagor_tower::path::{parse, Params};
///
/// let p = Params { fit_in: true, width: 300, height: 200, image: "a.jpg".into(), ..Params::default() };
/// let path = p.generate();
/// assert_eq!(path, "fit-in/300x200/a.jpg");
/// let back = parse(&format!("unsafe/{path}"));
/// assert_eq!(back, Params { path, is_unsafe: true, ..p });
/// ```
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

//! Colour arguments and `color:` sources.
//!
//! Filters such as `fill`, `background_color`, `padding` and `round_corner` take a colour
//! argument. It is lower-cased, a leading `#` is removed and only the text before the first
//! comma counts. It is one of: `none`/`transparent`, `auto` (the average colour of the
//! canvas), `blur` (for `fill` and `padding`), one of the 147 SVG 1.1 colour names, or hex
//! with 3, 6 or 8 digits. Hex digits are not validated: a non-hex character counts as 0, so
//! `FFO` (letter O) is yellow, as in imagor. Anything else is black.
//!
//! A `color:` image key is stricter: only names, `none`/`transparent` and well-formed hex are
//! accepted ([`source_color`]).
//!
//! # Example
//!
//! ```
//! use imagor_tower::processing::source_color;
//!
//! assert_eq!(source_color("color:red"), Some([255, 0, 0, 255]));
//! assert_eq!(source_color("Color:#ff000080"), Some([255, 0, 0, 128]));
//! assert_eq!(source_color("color:none"), Some([0, 0, 0, 0]));
//! assert_eq!(source_color("color:nope"), None);
//! assert_eq!(source_color("photo.jpg"), None);
//! ```

use super::error::ProcessError;
use super::limits::Limits;
use crate::path::Params;

/// What a colour argument asks to paint with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Paint {
    /// An opaque colour (any hex alpha is ignored in filter arguments).
    Rgb([u8; 3]),
    /// `none` or `transparent`.
    Transparent,
    /// `auto`: the average colour of the current canvas.
    Auto,
    /// `blur`: the canvas itself, stretched and blurred (`fill` and `padding` only).
    Blur,
}

/// Parses a filter colour argument.
pub(crate) fn paint(arg: &str) -> Paint {
    let first = arg.split(',').next().unwrap_or_default().trim();
    let lower = first.to_ascii_lowercase();
    let text = lower.strip_prefix('#').unwrap_or(&lower);
    match text {
        "none" | "transparent" => Paint::Transparent,
        "auto" => Paint::Auto,
        "blur" => Paint::Blur,
        _ => Paint::Rgb(
            named(text)
                .or_else(|| lenient_hex(text).map(|[r, g, b, _]| [r, g, b]))
                .unwrap_or([0, 0, 0]),
        ),
    }
}

/// The RGBA colour of a `color:<c>` image key, or `None` when the key is not a colour source
/// or names no valid colour. The `color:` prefix is case-insensitive.
pub fn source_color(key: &str) -> Option<[u8; 4]> {
    let text = strip_color_prefix(key)?.to_ascii_lowercase();
    let text = text.strip_prefix('#').unwrap_or(&text);
    match text {
        "none" | "transparent" => Some([0, 0, 0, 0]),
        _ => named(text)
            .map(|[r, g, b]| [r, g, b, 255])
            .or_else(|| strict_hex(text)),
    }
}

/// Whether `key` is a `color:` source (the prefix alone decides, as in imagor).
pub fn is_color_source(key: &str) -> bool {
    strip_color_prefix(key).is_some()
}

fn strip_color_prefix(key: &str) -> Option<&str> {
    let prefix = key.get(..6)?;
    prefix
        .eq_ignore_ascii_case("color:")
        .then(|| key.get(6..).unwrap_or_default())
}

/// Hex of 3, 6 or 8 digits; any non-hex character counts as 0.
fn lenient_hex(text: &str) -> Option<[u8; 4]> {
    let digit = |c: u8| char::from(c).to_digit(16).map_or(0, |d| d as u8);
    let bytes = text.as_bytes();
    let pair = |i: usize| {
        let hi = bytes.get(i).copied().map_or(0, digit);
        let lo = bytes.get(i + 1).copied().map_or(0, digit);
        hi * 16 + lo
    };
    match bytes.len() {
        3 => {
            let d = |i: usize| bytes.get(i).copied().map_or(0, digit) * 17;
            Some([d(0), d(1), d(2), 255])
        }
        6 => Some([pair(0), pair(2), pair(4), 255]),
        8 => Some([pair(0), pair(2), pair(4), pair(6)]),
        _ => None,
    }
}

/// Hex of 3, 6 or 8 valid digits.
fn strict_hex(text: &str) -> Option<[u8; 4]> {
    if text.bytes().all(|c| c.is_ascii_hexdigit()) {
        lenient_hex(text)
    } else {
        None
    }
}

/// The SVG 1.1 colour keywords (lower case).
fn named(name: &str) -> Option<[u8; 3]> {
    let rgb = match name {
        "aliceblue" => 0xf0f8ff,
        "antiquewhite" => 0xfaebd7,
        "aqua" | "cyan" => 0x00ffff,
        "aquamarine" => 0x7fffd4,
        "azure" => 0xf0ffff,
        "beige" => 0xf5f5dc,
        "bisque" => 0xffe4c4,
        "black" => 0x000000,
        "blanchedalmond" => 0xffebcd,
        "blue" => 0x0000ff,
        "blueviolet" => 0x8a2be2,
        "brown" => 0xa52a2a,
        "burlywood" => 0xdeb887,
        "cadetblue" => 0x5f9ea0,
        "chartreuse" => 0x7fff00,
        "chocolate" => 0xd2691e,
        "coral" => 0xff7f50,
        "cornflowerblue" => 0x6495ed,
        "cornsilk" => 0xfff8dc,
        "crimson" => 0xdc143c,
        "darkblue" => 0x00008b,
        "darkcyan" => 0x008b8b,
        "darkgoldenrod" => 0xb8860b,
        "darkgray" | "darkgrey" => 0xa9a9a9,
        "darkgreen" => 0x006400,
        "darkkhaki" => 0xbdb76b,
        "darkmagenta" => 0x8b008b,
        "darkolivegreen" => 0x556b2f,
        "darkorange" => 0xff8c00,
        "darkorchid" => 0x9932cc,
        "darkred" => 0x8b0000,
        "darksalmon" => 0xe9967a,
        "darkseagreen" => 0x8fbc8f,
        "darkslateblue" => 0x483d8b,
        "darkslategray" | "darkslategrey" => 0x2f4f4f,
        "darkturquoise" => 0x00ced1,
        "darkviolet" => 0x9400d3,
        "deeppink" => 0xff1493,
        "deepskyblue" => 0x00bfff,
        "dimgray" | "dimgrey" => 0x696969,
        "dodgerblue" => 0x1e90ff,
        "firebrick" => 0xb22222,
        "floralwhite" => 0xfffaf0,
        "forestgreen" => 0x228b22,
        "fuchsia" | "magenta" => 0xff00ff,
        "gainsboro" => 0xdcdcdc,
        "ghostwhite" => 0xf8f8ff,
        "gold" => 0xffd700,
        "goldenrod" => 0xdaa520,
        "gray" | "grey" => 0x808080,
        "green" => 0x008000,
        "greenyellow" => 0xadff2f,
        "honeydew" => 0xf0fff0,
        "hotpink" => 0xff69b4,
        "indianred" => 0xcd5c5c,
        "indigo" => 0x4b0082,
        "ivory" => 0xfffff0,
        "khaki" => 0xf0e68c,
        "lavender" => 0xe6e6fa,
        "lavenderblush" => 0xfff0f5,
        "lawngreen" => 0x7cfc00,
        "lemonchiffon" => 0xfffacd,
        "lightblue" => 0xadd8e6,
        "lightcoral" => 0xf08080,
        "lightcyan" => 0xe0ffff,
        "lightgoldenrodyellow" => 0xfafad2,
        "lightgray" | "lightgrey" => 0xd3d3d3,
        "lightgreen" => 0x90ee90,
        "lightpink" => 0xffb6c1,
        "lightsalmon" => 0xffa07a,
        "lightseagreen" => 0x20b2aa,
        "lightskyblue" => 0x87cefa,
        "lightslategray" | "lightslategrey" => 0x778899,
        "lightsteelblue" => 0xb0c4de,
        "lightyellow" => 0xffffe0,
        "lime" => 0x00ff00,
        "limegreen" => 0x32cd32,
        "linen" => 0xfaf0e6,
        "maroon" => 0x800000,
        "mediumaquamarine" => 0x66cdaa,
        "mediumblue" => 0x0000cd,
        "mediumorchid" => 0xba55d3,
        "mediumpurple" => 0x9370db,
        "mediumseagreen" => 0x3cb371,
        "mediumslateblue" => 0x7b68ee,
        "mediumspringgreen" => 0x00fa9a,
        "mediumturquoise" => 0x48d1cc,
        "mediumvioletred" => 0xc71585,
        "midnightblue" => 0x191970,
        "mintcream" => 0xf5fffa,
        "mistyrose" => 0xffe4e1,
        "moccasin" => 0xffe4b5,
        "navajowhite" => 0xffdead,
        "navy" => 0x000080,
        "oldlace" => 0xfdf5e6,
        "olive" => 0x808000,
        "olivedrab" => 0x6b8e23,
        "orange" => 0xffa500,
        "orangered" => 0xff4500,
        "orchid" => 0xda70d6,
        "palegoldenrod" => 0xeee8aa,
        "palegreen" => 0x98fb98,
        "paleturquoise" => 0xafeeee,
        "palevioletred" => 0xdb7093,
        "papayawhip" => 0xffefd5,
        "peachpuff" => 0xffdab9,
        "peru" => 0xcd853f,
        "pink" => 0xffc0cb,
        "plum" => 0xdda0dd,
        "powderblue" => 0xb0e0e6,
        "purple" => 0x800080,
        "red" => 0xff0000,
        "rosybrown" => 0xbc8f8f,
        "royalblue" => 0x4169e1,
        "saddlebrown" => 0x8b4513,
        "salmon" => 0xfa8072,
        "sandybrown" => 0xf4a460,
        "seagreen" => 0x2e8b57,
        "seashell" => 0xfff5ee,
        "sienna" => 0xa0522d,
        "silver" => 0xc0c0c0,
        "skyblue" => 0x87ceeb,
        "slateblue" => 0x6a5acd,
        "slategray" | "slategrey" => 0x708090,
        "snow" => 0xfffafa,
        "springgreen" => 0x00ff7f,
        "steelblue" => 0x4682b4,
        "tan" => 0xd2b48c,
        "teal" => 0x008080,
        "thistle" => 0xd8bfd8,
        "tomato" => 0xff6347,
        "turquoise" => 0x40e0d0,
        "violet" => 0xee82ee,
        "wheat" => 0xf5deb3,
        "white" => 0xffffff,
        "whitesmoke" => 0xf5f5f5,
        "yellow" => 0xffff00,
        "yellowgreen" => 0x9acd32,
        _ => return None,
    };
    let [_, r, g, b] = u32::to_be_bytes(rgb);
    Some([r, g, b])
}

/// The size of a `color:` canvas: the URL's width and height (one given side is used for
/// both, none gives 1 × 1), refused past the resolution limit and clamped to the width and
/// height limits, as imagor does.
pub(super) fn color_canvas_size(
    params: &Params,
    limits: &Limits,
) -> Result<(u32, u32), ProcessError> {
    let side = |v: i64| u32::try_from(v.unsigned_abs()).unwrap_or(u32::MAX);
    let (mut width, mut height) = (side(params.width), side(params.height));
    match (width, height) {
        (0, 0) => (width, height) = (1, 1),
        (0, h) => width = h,
        (w, 0) => height = w,
        _ => {}
    }
    if limits
        .max_resolution
        .is_some_and(|max| u64::from(width) * u64::from(height) > max)
    {
        return Err(ProcessError::MaxResolution);
    }
    width = limits.max_width.map_or(width, |max| width.min(max));
    height = limits.max_height.map_or(height, |max| height.min(max));
    Ok((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_colours() {
        assert_eq!(paint("white"), Paint::Rgb([255, 255, 255]));
        assert_eq!(paint("YELLOW"), Paint::Rgb([255, 255, 0]));
        assert_eq!(paint("#ff0"), Paint::Rgb([255, 255, 0]));
        assert_eq!(paint("FFO"), Paint::Rgb([255, 255, 0]));
        assert_eq!(paint("ff000080"), Paint::Rgb([255, 0, 0]));
        assert_eq!(paint("green,10"), Paint::Rgb([0, 128, 0]));
        assert_eq!(paint("none"), Paint::Transparent);
        assert_eq!(paint("transparent"), Paint::Transparent);
        assert_eq!(paint("auto"), Paint::Auto);
        assert_eq!(paint("blur"), Paint::Blur);
        assert_eq!(paint("no-such"), Paint::Rgb([0, 0, 0]));
        assert_eq!(paint(""), Paint::Rgb([0, 0, 0]));
        assert_eq!(paint("ééé"), Paint::Rgb([0, 0, 0]));
    }

    #[test]
    fn source_colours() {
        assert_eq!(source_color("color:fff"), Some([255, 255, 255, 255]));
        assert_eq!(source_color("COLOR:Blue"), Some([0, 0, 255, 255]));
        assert_eq!(source_color("color:"), None);
        assert_eq!(source_color("color:ffo"), None);
        assert_eq!(source_color("colo"), None);
        assert_eq!(source_color("colör:red"), None);
        assert!(is_color_source("Color:whatever"));
        assert!(!is_color_source("notcolor:red"));
    }
}

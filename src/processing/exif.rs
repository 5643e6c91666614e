//! Reading EXIF blocks into the `exif` object of `/meta`.
//!
//! The block is a TIFF structure (byte order mark, IFD0, and the Exif, GPS, Interoperability
//! and thumbnail IFDs it points to). Tags get libexif's short names (`Make`, `DateTime`,
//! `ExposureTime`, ...) and values are written the way libvips shows them to imagor: text as
//! is, integers in decimal, rationals as `n/d`, several values separated by `, `, and the
//! few `UNDEFINED` tags imagor shows (`ExifVersion` as `Exif Version 2.21`,
//! `ComponentsConfiguration` as `Y Cb Cr -`, ...). Tags without a name here, maker notes and
//! other binary blobs are left out, as are empty values.
//!
//! Every offset is bounds-checked and every IFD is read at most once, so a hostile block
//! can only produce fewer tags, never a panic or a loop.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::Params;
//! use imagor_tower::processing::{metadata, Options};
//!
//! # let mut png = Vec::new();
//! # image::RgbImage::new(8, 8)
//! #     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
//! #     .unwrap();
//! // A PNG without an eXIf chunk: no tags, orientation 0.
//! let meta = metadata(&png, &Params::default(), &Options::default()).unwrap();
//! assert!(meta.exif().is_empty());
//! assert_eq!(meta.orientation(), 0);
//! ```

use std::collections::BTreeMap;

/// Most entries read from one IFD (real files have a few dozen).
const MAX_ENTRIES: usize = 512;
/// Most values shown for one tag.
const MAX_VALUES: usize = 64;

/// The IFDs, each with its own tag names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ifd {
    Image,
    Exif,
    Gps,
    Interop,
}

/// Byte order of the block.
#[derive(Clone, Copy, Debug)]
struct Reader<'a> {
    data: &'a [u8],
    little: bool,
}

impl Reader<'_> {
    fn u16(&self, at: usize) -> Option<u16> {
        let bytes: [u8; 2] = self.data.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.little {
            u16::from_le_bytes(bytes)
        } else {
            u16::from_be_bytes(bytes)
        })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let bytes: [u8; 4] = self.data.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.little {
            u32::from_le_bytes(bytes)
        } else {
            u32::from_be_bytes(bytes)
        })
    }
}

/// The tags of an EXIF block, by name. An unreadable block gives an empty map.
pub(crate) fn tags(block: &[u8]) -> BTreeMap<String, String> {
    let data = block.strip_prefix(b"Exif\0\0").unwrap_or(block);
    let little = match data.get(..4) {
        Some(b"II*\0") => true,
        Some(b"MM\0*") => false,
        _ => return BTreeMap::new(),
    };
    let reader = Reader { data, little };
    let mut out = BTreeMap::new();
    let mut seen = Vec::new();
    let Some(first) = reader.u32(4) else {
        return out;
    };
    let next = read_ifd(&reader, first, Ifd::Image, &mut out, &mut seen);
    // IFD1 (the thumbnail's) adds tags IFD0 does not have, such as `Compression`.
    if let Some(next) = next.filter(|n| *n != 0) {
        read_ifd(&reader, next, Ifd::Image, &mut out, &mut seen);
    }
    out
}

/// The `Orientation` tag (1–8) of an EXIF block, 0 when absent or invalid.
pub(crate) fn orientation(block: &[u8]) -> u16 {
    tags(block)
        .get("Orientation")
        .and_then(|v| v.parse::<u16>().ok())
        .filter(|v| (1..=8).contains(v))
        .unwrap_or(0)
}

/// Reads one IFD (and the IFDs it points to); returns the offset of the next IFD.
fn read_ifd(
    reader: &Reader<'_>,
    offset: u32,
    ifd: Ifd,
    out: &mut BTreeMap<String, String>,
    seen: &mut Vec<u32>,
) -> Option<u32> {
    if seen.contains(&offset) || seen.len() > 16 {
        return None;
    }
    seen.push(offset);
    let start = usize::try_from(offset).ok()?;
    let count = usize::from(reader.u16(start)?).min(MAX_ENTRIES);
    for index in 0..count {
        let entry = start + 2 + index * 12;
        let (Some(tag), Some(kind), Some(n)) = (
            reader.u16(entry),
            reader.u16(entry + 2),
            reader.u32(entry + 4),
        ) else {
            break;
        };
        let pointer = || reader.u32(entry + 8);
        match (ifd, tag) {
            (Ifd::Image, 0x8769) => {
                if let Some(p) = pointer() {
                    read_ifd(reader, p, Ifd::Exif, out, seen);
                }
                continue;
            }
            (Ifd::Image, 0x8825) => {
                if let Some(p) = pointer() {
                    read_ifd(reader, p, Ifd::Gps, out, seen);
                }
                continue;
            }
            (Ifd::Exif, 0xA005) => {
                if let Some(p) = pointer() {
                    read_ifd(reader, p, Ifd::Interop, out, seen);
                }
                continue;
            }
            _ => {}
        }
        let Some(name) = tag_name(ifd, tag) else {
            continue;
        };
        if let Some(value) = value(reader, entry, tag, kind, n)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
        {
            out.entry(name.to_owned()).or_insert(value);
        }
    }
    reader.u32(start + 2 + count * 12)
}

/// The text of one entry's value.
fn value(reader: &Reader<'_>, entry: usize, tag: u16, kind: u16, count: u32) -> Option<String> {
    let size: usize = match kind {
        1 | 2 | 6 | 7 => 1,
        3 | 8 => 2,
        4 | 9 | 11 => 4,
        5 | 10 | 12 => 8,
        _ => return None,
    };
    let count = usize::try_from(count).ok()?;
    let total = size.checked_mul(count)?;
    let at = if total <= 4 {
        entry + 8
    } else {
        usize::try_from(reader.u32(entry + 8)?).ok()?
    };
    let bytes = reader.data.get(at..at.checked_add(total)?)?;
    let shown = count.min(MAX_VALUES);
    let join = |items: Vec<String>, sep: &str| items.join(sep);
    Some(match kind {
        2 => {
            let text = bytes.split(|b| *b == 0).next().unwrap_or_default();
            String::from_utf8_lossy(text).into_owned()
        }
        7 => undefined(tag, bytes)?,
        1 | 6 => {
            let items = bytes.iter().take(shown).map(u8::to_string).collect();
            join(items, if tag == 0x0000 { "." } else { ", " })
        }
        3 | 8 => {
            let items = (0..shown)
                .filter_map(|i| reader.u16(at + i * 2))
                .map(|v| {
                    if kind == 8 {
                        (v as i16).to_string()
                    } else {
                        v.to_string()
                    }
                })
                .collect();
            join(items, ", ")
        }
        4 | 9 => {
            let items = (0..shown)
                .filter_map(|i| reader.u32(at + i * 4))
                .map(|v| {
                    if kind == 9 {
                        (v as i32).to_string()
                    } else {
                        v.to_string()
                    }
                })
                .collect();
            join(items, ", ")
        }
        5 | 10 => {
            let items = (0..shown)
                .filter_map(|i| Some((reader.u32(at + i * 8)?, reader.u32(at + i * 8 + 4)?)))
                .map(|(n, d)| {
                    if kind == 10 {
                        format!("{}/{}", n as i32, d as i32)
                    } else {
                        format!("{n}/{d}")
                    }
                })
                .collect();
            join(items, ", ")
        }
        11 => {
            let items = (0..shown)
                .filter_map(|i| reader.u32(at + i * 4))
                .map(|v| f32::from_bits(v).to_string())
                .collect();
            join(items, ", ")
        }
        _ => {
            let items = (0..shown)
                .filter_map(|i| {
                    let hi = u64::from(reader.u32(at + i * 8)?);
                    let lo = u64::from(reader.u32(at + i * 8 + 4)?);
                    let bits = if reader.little {
                        (lo << 32) | hi
                    } else {
                        (hi << 32) | lo
                    };
                    Some(f64::from_bits(bits).to_string())
                })
                .collect();
            join(items, ", ")
        }
    })
}

/// The few `UNDEFINED` tags imagor shows, written as libexif does.
fn undefined(tag: u16, bytes: &[u8]) -> Option<String> {
    let version = |label: &str| {
        let text = std::str::from_utf8(bytes.get(..4)?).ok()?;
        let major = text.get(..2)?.trim_start_matches('0');
        let minor = text.get(2..)?;
        let minor = if minor.len() == 2 && minor.ends_with('0') {
            minor.get(..1)?
        } else {
            minor
        };
        let major = if major.is_empty() { "0" } else { major };
        Some(format!("{label} {major}.{minor}"))
    };
    match tag {
        0x9000 => version("Exif Version"),
        0xA000 => version("FlashPix Version"),
        0x9101 => {
            let parts: Vec<&str> = bytes
                .iter()
                .take(4)
                .map(|b| match b {
                    1 => "Y",
                    2 => "Cb",
                    3 => "Cr",
                    4 => "R",
                    5 => "G",
                    6 => "B",
                    _ => "-",
                })
                .collect();
            Some(parts.join(" "))
        }
        // InteroperabilityVersion: four ASCII digits.
        0x0002 => std::str::from_utf8(bytes.get(..4)?).ok().map(str::to_owned),
        0xA300 => Some(
            if bytes.first() == Some(&3) {
                "DSC"
            } else {
                "Others"
            }
            .to_owned(),
        ),
        0xA301 => Some(
            if bytes.first() == Some(&1) {
                "Directly photographed"
            } else {
                "Internal error (unknown value 0)"
            }
            .to_owned(),
        ),
        _ => None,
    }
}

/// libexif's name of a tag in an IFD.
fn tag_name(ifd: Ifd, tag: u16) -> Option<&'static str> {
    match ifd {
        Ifd::Gps => gps_name(tag),
        Ifd::Interop => match tag {
            0x0001 => Some("InteroperabilityIndex"),
            0x0002 => Some("InteroperabilityVersion"),
            0x1001 => Some("RelatedImageWidth"),
            0x1002 => Some("RelatedImageLength"),
            _ => None,
        },
        Ifd::Image | Ifd::Exif => main_name(tag),
    }
}

fn gps_name(tag: u16) -> Option<&'static str> {
    Some(match tag {
        0x0000 => "GPSVersionID",
        0x0001 => "GPSLatitudeRef",
        0x0002 => "GPSLatitude",
        0x0003 => "GPSLongitudeRef",
        0x0004 => "GPSLongitude",
        0x0005 => "GPSAltitudeRef",
        0x0006 => "GPSAltitude",
        0x0007 => "GPSTimeStamp",
        0x0008 => "GPSSatellites",
        0x0009 => "GPSStatus",
        0x000A => "GPSMeasureMode",
        0x000B => "GPSDOP",
        0x000C => "GPSSpeedRef",
        0x000D => "GPSSpeed",
        0x000E => "GPSTrackRef",
        0x000F => "GPSTrack",
        0x0010 => "GPSImgDirectionRef",
        0x0011 => "GPSImgDirection",
        0x0012 => "GPSMapDatum",
        0x001D => "GPSDateStamp",
        0x001E => "GPSDifferential",
        _ => return None,
    })
}

fn main_name(tag: u16) -> Option<&'static str> {
    Some(match tag {
        0x0100 => "ImageWidth",
        0x0101 => "ImageLength",
        0x0102 => "BitsPerSample",
        0x0103 => "Compression",
        0x0106 => "PhotometricInterpretation",
        0x010E => "ImageDescription",
        0x010F => "Make",
        0x0110 => "Model",
        0x0112 => "Orientation",
        0x0115 => "SamplesPerPixel",
        0x011A => "XResolution",
        0x011B => "YResolution",
        0x011C => "PlanarConfiguration",
        0x0128 => "ResolutionUnit",
        0x0131 => "Software",
        0x0132 => "DateTime",
        0x013B => "Artist",
        0x013E => "WhitePoint",
        0x013F => "PrimaryChromaticities",
        0x0211 => "YCbCrCoefficients",
        0x0212 => "YCbCrSubSampling",
        0x0213 => "YCbCrPositioning",
        0x0214 => "ReferenceBlackWhite",
        0x8298 => "Copyright",
        0x829A => "ExposureTime",
        0x829D => "FNumber",
        0x8822 => "ExposureProgram",
        0x8824 => "SpectralSensitivity",
        0x8827 => "ISOSpeedRatings",
        0x8830 => "SensitivityType",
        0x9000 => "ExifVersion",
        0x9003 => "DateTimeOriginal",
        0x9004 => "DateTimeDigitized",
        0x9010 => "OffsetTime",
        0x9011 => "OffsetTimeOriginal",
        0x9012 => "OffsetTimeDigitized",
        0x9101 => "ComponentsConfiguration",
        0x9102 => "CompressedBitsPerPixel",
        0x9201 => "ShutterSpeedValue",
        0x9202 => "ApertureValue",
        0x9203 => "BrightnessValue",
        0x9204 => "ExposureBiasValue",
        0x9205 => "MaxApertureValue",
        0x9206 => "SubjectDistance",
        0x9207 => "MeteringMode",
        0x9208 => "LightSource",
        0x9209 => "Flash",
        0x920A => "FocalLength",
        0x9214 => "SubjectArea",
        0x9290 => "SubsecTime",
        0x9291 => "SubSecTimeOriginal",
        0x9292 => "SubSecTimeDigitized",
        0xA000 => "FlashpixVersion",
        0xA001 => "ColorSpace",
        0xA002 => "PixelXDimension",
        0xA003 => "PixelYDimension",
        0xA20E => "FocalPlaneXResolution",
        0xA20F => "FocalPlaneYResolution",
        0xA210 => "FocalPlaneResolutionUnit",
        0xA215 => "ExposureIndex",
        0xA217 => "SensingMethod",
        0xA300 => "FileSource",
        0xA301 => "SceneType",
        0xA401 => "CustomRendered",
        0xA402 => "ExposureMode",
        0xA403 => "WhiteBalance",
        0xA404 => "DigitalZoomRatio",
        0xA405 => "FocalLengthIn35mmFilm",
        0xA406 => "SceneCaptureType",
        0xA407 => "GainControl",
        0xA408 => "Contrast",
        0xA409 => "Saturation",
        0xA40A => "Sharpness",
        0xA40C => "SubjectDistanceRange",
        0xA420 => "ImageUniqueID",
        0xA430 => "CameraOwnerName",
        0xA431 => "BodySerialNumber",
        0xA432 => "LensSpecification",
        0xA433 => "LensMake",
        0xA434 => "LensModel",
        0xA435 => "LensSerialNumber",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian block: IFD0 with Make, Orientation, XResolution and an Exif pointer;
    /// the Exif IFD with ExifVersion and ComponentsConfiguration.
    fn block() -> Vec<u8> {
        let mut b = b"II*\0".to_vec();
        b.extend(8u32.to_le_bytes());
        // IFD0 at 8: 4 entries.
        b.extend(4u16.to_le_bytes());
        let entry = |b: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]| {
            b.extend(tag.to_le_bytes());
            b.extend(kind.to_le_bytes());
            b.extend(count.to_le_bytes());
            b.extend(value);
        };
        // After IFD0 (2 + 4 × 12 + 4 = 54 bytes): data at 62.
        let make_at = 62u32;
        let res_at = make_at + 8;
        let exif_at = res_at + 8;
        entry(&mut b, 0x010F, 2, 6, make_at.to_le_bytes());
        entry(&mut b, 0x0112, 3, 1, [6, 0, 0, 0]);
        entry(&mut b, 0x011A, 5, 1, res_at.to_le_bytes());
        entry(&mut b, 0x8769, 4, 1, exif_at.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend(b"Canon\0\0\0");
        b.extend(72u32.to_le_bytes());
        b.extend(1u32.to_le_bytes());
        // Exif IFD: 2 entries, then a pointer back to IFD0 (a loop to ignore).
        b.extend(2u16.to_le_bytes());
        entry(&mut b, 0x9000, 7, 4, *b"0221");
        entry(&mut b, 0x9101, 7, 4, [1, 2, 3, 0]);
        b.extend(8u32.to_le_bytes());
        b
    }

    #[test]
    fn reads_names_and_values_like_libvips() {
        let tags = tags(&block());
        let get = |k: &str| tags.get(k).map(String::as_str);
        assert_eq!(get("Make"), Some("Canon"));
        assert_eq!(get("Orientation"), Some("6"));
        assert_eq!(get("XResolution"), Some("72/1"));
        assert_eq!(get("ExifVersion"), Some("Exif Version 2.21"));
        assert_eq!(get("ComponentsConfiguration"), Some("Y Cb Cr -"));
        assert_eq!(tags.len(), 5);
        assert_eq!(orientation(&block()), 6);
        let mut with_prefix = b"Exif\0\0".to_vec();
        with_prefix.extend(block());
        assert_eq!(orientation(&with_prefix), 6);
    }

    #[test]
    fn hostile_blocks_give_what_they_can() {
        assert!(tags(b"").is_empty());
        assert!(tags(b"II*\0\xff\xff\xff\xff").is_empty());
        let full = block();
        for cut in 0..full.len() {
            // Truncated anywhere: never a panic.
            let _ = tags(&full[..cut]);
        }
        let mut big_count = full;
        big_count[8] = 0xff;
        big_count[9] = 0xff;
        let _ = tags(&big_count);
        assert_eq!(orientation(b"MM\0*\0\0\0\x08\0\0"), 0);
    }

    #[test]
    fn versions_follow_libexif() {
        assert_eq!(
            undefined(0x9000, b"0210").as_deref(),
            Some("Exif Version 2.1")
        );
        assert_eq!(
            undefined(0xA000, b"0100").as_deref(),
            Some("FlashPix Version 1.0")
        );
        assert_eq!(undefined(0x9000, b"02"), None);
        assert_eq!(undefined(0x927C, b"maker note"), None);
    }
}

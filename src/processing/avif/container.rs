//! The few HEIF properties of the primary item that `avif-parse` does not expose: its size
//! (`ispe`), its rotation (`irot`) and mirror (`imir`), and its colour (`colr`: CICP codes
//! or an ICC profile), plus the brand sniffing of the `ftyp` box.
//!
//! Only the boxes on the way are read (`ftyp`, `meta` → `pitm`, `iprp` → `ipco`, `ipma`);
//! every length is checked against the bytes at hand, so a truncated or lying file yields
//! fewer properties, never a panic. The item data itself is left to `avif-parse`.
//!
//! # Example
//!
//! ```
//! use imagor_tower::processing::Format;
//!
//! // An `ftyp` box whose major brand is `avif`.
//! let head = b"\0\0\0\x14ftypavif\0\0\0\0mif1";
//! assert_eq!(Format::sniff(head), Some(Format::Avif));
//! // HEIC is another HEIF brand, not AVIF.
//! assert_eq!(Format::sniff(b"\0\0\0\x14ftypheic\0\0\0\0mif1"), None);
//! ```

/// The properties of the primary item that change how it is shown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ItemInfo {
    /// `ispe`: the width and height the file declares, before any transform.
    pub(crate) size: Option<(u32, u32)>,
    /// `irot` and `imir`, in the order the item lists them.
    pub(crate) transforms: Vec<Transform>,
    /// `colr` of type `nclx`.
    pub(crate) cicp: Option<Cicp>,
    /// `colr` of type `prof` or `rICC`.
    pub(crate) icc_profile: Option<Vec<u8>>,
}

impl ItemInfo {
    /// Width and height once the transforms are applied.
    pub(crate) fn shown_size(&self) -> Option<(u32, u32)> {
        let (w, h) = self.size?;
        let quarter = self
            .transforms
            .iter()
            .filter(|t| matches!(t, Transform::Rotate(1 | 3)))
            .count();
        Some(if quarter % 2 == 1 { (h, w) } else { (w, h) })
    }
}

/// A transformative property of the primary item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transform {
    /// `irot`: quarter turns anticlockwise (0–3).
    Rotate(u8),
    /// `imir` axis 0: mirrored about the vertical axis (left and right swap).
    MirrorHorizontal,
    /// `imir` axis 1: mirrored about the horizontal axis (top and bottom swap).
    MirrorVertical,
}

/// Colour codes from an `nclx` colour box (ITU-T H.273).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cicp {
    /// Matrix coefficients (1 BT.709, 5/6 BT.601, 9 BT.2020, 0 identity, ...).
    pub(crate) matrix: u16,
    /// Full-range samples (otherwise studio range).
    pub(crate) full_range: bool,
}

/// One box: its type and its payload (after the header).
#[derive(Clone, Copy, Debug)]
struct Item<'a> {
    kind: [u8; 4],
    body: &'a [u8],
}

/// Iterates over the boxes packed in `data`; stops at the first malformed header.
struct Boxes<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Boxes<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Item<'a>> {
        let Some((item, rest)) = split_box(self.rest) else {
            self.rest = &[];
            return None;
        };
        self.rest = rest;
        Some(item)
    }
}

/// The first box of `data` and what follows it, or `None` when its header is short or
/// malformed, or it claims more bytes than `data` has. A size of 0 runs to the end.
fn split_box(data: &[u8]) -> Option<(Item<'_>, &[u8])> {
    let size = u64::from(be_u32(data, 0)?);
    let kind: [u8; 4] = data.get(4..8)?.try_into().ok()?;
    let (header, size) = match size {
        0 => (8, data.len() as u64),
        1 => (16, be_u64(data, 8)?),
        size => (8, size),
    };
    let end = usize::try_from(size).ok()?;
    if end < header {
        return None;
    }
    let body = data.get(header..end)?;
    Some((Item { kind, body }, data.get(end..)?))
}

/// Whether the boxes avif-parse reads into memory fit inside their parents, and the item
/// counts it reserves room for are no larger than the bytes that would hold them.
///
/// avif-parse 2.1 allocates a box's declared size before reading it (`mdat`, `iloc`,
/// `auxC`, the brands of `ftyp`) and the declared number of `iinf` and `iloc` entries before
/// reading them, so a 500-byte file could ask for 4 GiB (found by the `decode_avif` fuzz
/// target). Such a file is malformed; it is refused before avif-parse sees it.
pub(crate) fn sizes_fit(bytes: &[u8]) -> bool {
    let Some(top) = fitting_boxes(bytes) else {
        return false;
    };
    top.iter()
        .filter(|item| &item.kind == b"meta")
        .all(|meta| meta.body.get(4..).is_some_and(meta_fits))
}

/// The boxes packed in `data`, or `None` when a box claims more bytes than its parent has.
/// Fewer than eight trailing bytes (no room for a header) are left for the parser to refuse.
fn fitting_boxes(data: &[u8]) -> Option<Vec<Item<'_>>> {
    let mut rest = data;
    let mut items = Vec::new();
    while rest.len() >= 8 {
        let (item, after) = split_box(rest)?;
        items.push(item);
        rest = after;
    }
    Some(items)
}

/// The children of a `meta` box (after its version and flags).
fn meta_fits(children: &[u8]) -> bool {
    let Some(children) = fitting_boxes(children) else {
        return false;
    };
    children.iter().all(|child| match &child.kind {
        b"iinf" => iinf_fits(child.body),
        b"iloc" => iloc_fits(child.body),
        b"iprp" => fitting_boxes(child.body).is_some_and(|boxes| {
            boxes
                .iter()
                .filter(|item| &item.kind == b"ipco")
                .all(|ipco| fitting_boxes(ipco.body).is_some())
        }),
        _ => true,
    })
}

/// `iinf`: each entry is an `infe` full box of at least 12 bytes.
fn iinf_fits(body: &[u8]) -> bool {
    let (count, header) = match body.first() {
        Some(0) => (be_u16(body, 4).map(u64::from), 6),
        Some(_) => (be_u32(body, 4).map(u64::from), 8),
        None => return false,
    };
    let room = body.len().saturating_sub(header) as u64;
    count.is_some_and(|count| count.saturating_mul(12) <= room)
        && body
            .get(header..)
            .is_some_and(|entries| fitting_boxes(entries).is_some())
}

/// `iloc`: version 2 counts items in 32 bits; each item takes at least 10 bytes. Versions 0
/// and 1 count in 16 bits, which is small enough.
fn iloc_fits(body: &[u8]) -> bool {
    match body.first() {
        Some(2) => be_u32(body, 6)
            .is_some_and(|count| u64::from(count).saturating_mul(10) <= body.len() as u64),
        Some(_) => true,
        None => false,
    }
}

fn boxes(data: &[u8]) -> Boxes<'_> {
    Boxes { rest: data }
}

fn be_u16(data: &[u8], at: usize) -> Option<u16> {
    let bytes = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes(bytes.try_into().ok()?))
}

fn be_u32(data: &[u8], at: usize) -> Option<u32> {
    let bytes = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

fn be_u64(data: &[u8], at: usize) -> Option<u64> {
    let bytes = data.get(at..at.checked_add(8)?)?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// Whether `bytes` start with an `ftyp` box that names AVIF: a major brand of `avif` or
/// `avis`, or a generic HEIF major brand (`mif1`, `msf1`, `miaf`) with `avif` or `avis`
/// among the compatible brands.
pub(crate) fn is_avif(bytes: &[u8]) -> bool {
    if bytes.get(4..8) != Some(b"ftyp".as_slice()) {
        return false;
    }
    let avif = |brand: &[u8]| brand == b"avif" || brand == b"avis";
    let Some(major) = bytes.get(8..12) else {
        return false;
    };
    if avif(major) {
        return true;
    }
    if !matches!(major, b"mif1" | b"msf1" | b"miaf") {
        return false;
    }
    // Compatible brands follow the minor version, up to the end of the box.
    let size = be_u32(bytes, 0).and_then(|s| usize::try_from(s).ok());
    let end = size.map_or(bytes.len(), |s| s.min(bytes.len()));
    bytes
        .get(16..end)
        .unwrap_or_default()
        .chunks_exact(4)
        .take(64)
        .any(avif)
}

/// Reads the properties of the primary item; whatever cannot be read is left out.
pub(crate) fn item_info(bytes: &[u8]) -> ItemInfo {
    let mut info = ItemInfo::default();
    let Some(meta) = boxes(bytes).find(|b| &b.kind == b"meta") else {
        return info;
    };
    // `meta` is a full box: version and flags come first.
    let children = meta.body.get(4..).unwrap_or_default();
    let mut primary = None;
    let mut iprp = None;
    for child in boxes(children) {
        match &child.kind {
            b"pitm" => primary = primary_item(child.body),
            b"iprp" => iprp = Some(child.body),
            _ => {}
        }
    }
    let (Some(primary), Some(iprp)) = (primary, iprp) else {
        return info;
    };
    let mut properties = Vec::new();
    let mut associations = Vec::new();
    for child in boxes(iprp) {
        match &child.kind {
            b"ipco" => properties = boxes(child.body).collect(),
            b"ipma" => associations.extend(associated(child.body, primary)),
            _ => {}
        }
    }
    for index in associations {
        // Property indices are 1-based; 0 means "no property".
        let Some(property) = index.checked_sub(1).and_then(|i| properties.get(i)) else {
            continue;
        };
        read_property(&mut info, property);
    }
    info
}

fn primary_item(pitm: &[u8]) -> Option<u32> {
    match pitm.first()? {
        0 => be_u16(pitm, 4).map(u32::from),
        _ => be_u32(pitm, 4),
    }
}

/// The property indices `ipma` associates with `item`, in order.
fn associated(ipma: &[u8], item: u32) -> Vec<usize> {
    let mut found = Vec::new();
    let (Some(&version), Some(&flags_low)) = (ipma.first(), ipma.get(3)) else {
        return found;
    };
    let wide_index = flags_low & 1 == 1;
    let Some(count) = be_u32(ipma, 4) else {
        return found;
    };
    let mut at = 8usize;
    for _ in 0..count {
        let id = if version < 1 {
            let Some(id) = be_u16(ipma, at) else { break };
            at = at.saturating_add(2);
            u32::from(id)
        } else {
            let Some(id) = be_u32(ipma, at) else { break };
            at = at.saturating_add(4);
            id
        };
        let Some(&links) = ipma.get(at) else { break };
        at = at.saturating_add(1);
        for _ in 0..links {
            let index = if wide_index {
                let Some(v) = be_u16(ipma, at) else { break };
                at = at.saturating_add(2);
                usize::from(v & 0x7fff)
            } else {
                let Some(&v) = ipma.get(at) else { break };
                at = at.saturating_add(1);
                usize::from(v & 0x7f)
            };
            if id == item {
                found.push(index);
            }
        }
        if id == item {
            break;
        }
    }
    found
}

fn read_property(info: &mut ItemInfo, property: &Item<'_>) {
    let body = property.body;
    match &property.kind {
        // Full box: 4 bytes of version and flags, then width and height.
        b"ispe" => {
            if let (Some(w), Some(h)) = (be_u32(body, 4), be_u32(body, 8)) {
                info.size = Some((w, h));
            }
        }
        b"irot" => {
            if let Some(&angle) = body.first() {
                info.transforms.push(Transform::Rotate(angle & 3));
            }
        }
        b"imir" => {
            if let Some(&axis) = body.first() {
                info.transforms.push(if axis & 1 == 0 {
                    Transform::MirrorHorizontal
                } else {
                    Transform::MirrorVertical
                });
            }
        }
        b"colr" => match body.get(..4) {
            Some(b"nclx") if info.cicp.is_none() => {
                if let (Some(matrix), Some(&range)) = (be_u16(body, 8), body.get(10)) {
                    info.cicp = Some(Cicp {
                        matrix,
                        full_range: range & 0x80 != 0,
                    });
                }
            }
            Some(b"prof" | b"rICC") if info.icc_profile.is_none() => {
                let profile = body.get(4..).unwrap_or_default();
                if !profile.is_empty() {
                    info.icc_profile = Some(profile.to_vec());
                }
            }
            _ => {}
        },
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A box with `kind` around `body`.
    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let size = u32::try_from(body.len() + 8).expect("small box");
        let mut out = size.to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    fn full(kind: &[u8; 4], version: u8, body: &[u8]) -> Vec<u8> {
        let mut inner = vec![version, 0, 0, 0];
        inner.extend_from_slice(body);
        bx(kind, &inner)
    }

    /// A file whose item 1 has `ispe` 300×200, `irot` 1, `imir` 0 and `colr` nclx BT.709
    /// full range; item 2 has an `ispe` of its own.
    fn sample() -> Vec<u8> {
        let mut ispe = Vec::new();
        ispe.extend_from_slice(&300u32.to_be_bytes());
        ispe.extend_from_slice(&200u32.to_be_bytes());
        let mut nclx = b"nclx".to_vec();
        nclx.extend_from_slice(&[0, 1, 0, 13, 0, 1, 0x80]);
        let mut small = Vec::new();
        small.extend_from_slice(&9u32.to_be_bytes());
        small.extend_from_slice(&9u32.to_be_bytes());
        let ipco = [
            full(b"ispe", 0, &ispe),
            bx(b"irot", &[1]),
            bx(b"imir", &[0]),
            bx(b"colr", &nclx),
            full(b"ispe", 0, &small),
        ]
        .concat();
        // Two entries: item 2 → property 5; item 1 → 4, 1, 2, 3 (essential bit set on 2).
        let ipma_body = [
            &2u32.to_be_bytes()[..],
            &[0, 2, 1, 5, 0, 1, 4, 4, 1, 0x82, 3],
        ]
        .concat();
        let iprp = bx(
            b"iprp",
            &[bx(b"ipco", &ipco), full(b"ipma", 0, &ipma_body)].concat(),
        );
        let meta = full(b"meta", 0, &[full(b"pitm", 0, &[0, 1]), iprp].concat());
        [bx(b"ftyp", b"avif\0\0\0\0mif1miaf"), meta].concat()
    }

    #[test]
    fn declared_sizes_must_fit() {
        let good = sample();
        assert!(sizes_fit(&good));
        // A media box that claims 4 GiB in a small file.
        let mut huge_mdat = good.clone();
        huge_mdat.extend_from_slice(&u32::MAX.to_be_bytes());
        huge_mdat.extend_from_slice(b"mdat\0\0\0\0");
        assert!(!sizes_fit(&huge_mdat));
        // An `ftyp` longer than the file.
        let mut long_ftyp = good;
        long_ftyp[3] = 0xff;
        assert!(!sizes_fit(&long_ftyp));
        // Entry counts larger than the bytes that could hold them.
        let with = |child: Vec<u8>| {
            let meta = full(b"meta", 0, &child);
            [bx(b"ftyp", b"avif\0\0\0\0mif1miaf"), meta].concat()
        };
        let iinf = full(b"iinf", 1, &u32::MAX.to_be_bytes());
        assert!(!sizes_fit(&with(iinf)));
        let mut iloc_body = vec![0x44, 0x40];
        iloc_body.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(!sizes_fit(&with(full(b"iloc", 2, &iloc_body))));
        let mut one_item = vec![0x44, 0x40];
        one_item.extend_from_slice(&1u32.to_be_bytes());
        one_item.extend_from_slice(&[0; 16]);
        assert!(sizes_fit(&with(full(b"iloc", 2, &one_item))));
        // An `ipco` child claiming more than the `ipco` holds.
        let ipco = bx(b"ipco", &[0, 0, 1, 0, b'a', b'u', b'x', b'C']);
        assert!(!sizes_fit(&with(bx(b"iprp", &ipco))));
    }

    #[test]
    fn reads_the_primary_item_properties() {
        let info = item_info(&sample());
        assert_eq!(info.size, Some((300, 200)));
        assert_eq!(
            info.transforms,
            [Transform::Rotate(1), Transform::MirrorHorizontal]
        );
        assert_eq!(
            info.cicp,
            Some(Cicp {
                matrix: 1,
                full_range: true
            })
        );
        assert_eq!(info.icc_profile, None);
        assert_eq!(info.shown_size(), Some((200, 300)));
    }

    #[test]
    fn every_truncation_reads_without_panicking() {
        let bytes = sample();
        for end in 0..bytes.len() {
            let info = item_info(&bytes[..end]);
            // Whatever was read of the size is the true one.
            assert!(matches!(info.size, None | Some((300, 200))), "{end}");
        }
    }

    #[test]
    fn sniffs_avif_brands() {
        let ftyp = |body: &[u8]| bx(b"ftyp", body);
        assert!(is_avif(&ftyp(b"avif\0\0\0\0mif1")));
        assert!(is_avif(&ftyp(b"avis\0\0\0\0")));
        assert!(is_avif(&ftyp(b"mif1\0\0\0\0miafavif")));
        assert!(!is_avif(&ftyp(b"mif1\0\0\0\0heic")));
        assert!(!is_avif(&ftyp(b"heic\0\0\0\0avif")));
        assert!(!is_avif(b"\0\0\0\x08ftyp"));
        assert!(!is_avif(b"\0\0\0\x0cftypav"));
        assert!(!is_avif(b""));
        // A truncated file still names its brand.
        assert!(is_avif(b"\0\0\x10\0ftypavif"));
        assert!(!is_avif(b"\0\0\x10\0ftypmif1\0\0\0\0he"));
    }
}

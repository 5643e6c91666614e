//! The checks an SVG document passes before `usvg` converts it: its size in bytes, its
//! `<!DOCTYPE>` (an external DTD is never read, an internal subset, where entities are
//! declared, is refused), the depth of the element chains usvg and resvg recurse along, and
//! its weight (the elements it expands to, `use` copies and markers included).

use std::collections::{HashMap, HashSet};

use resvg::usvg;

use crate::processing::error::ProcessError;

/// Deepest nesting drawn: of groups in the parsed tree, and of the element chains usvg and
/// resvg recurse along (see [`depth`]). At most about 3.5 KiB of stack per level was measured
/// (pattern fills inside pattern tiles), so 256 levels take under 1 MiB: safe on a 2 MiB
/// thread, and with a wide margin on the service's pixel threads.
pub const MAX_SVG_DEPTH: usize = 256;

/// Parses `input`, with every external or embedded image left out.
///
/// The XML is weighed before `usvg` converts it: the elements it would build, counting
/// each `use` as a copy of what it points to and each marker as drawn at every number of a
/// path's data. usvg allows a million elements, which takes it tens of seconds, and does not
/// count marker copies at all.
pub(crate) fn parse(input: &[u8]) -> Result<usvg::Tree, ProcessError> {
    let failed = |err: &dyn std::fmt::Display| ProcessError::image(format_args!("svg: {err}"));
    if input.len() > MAX_SVG_BYTES {
        return Err(ProcessError::image(format_args!(
            "svg: larger than {} MiB",
            MAX_SVG_BYTES >> 20
        )));
    }
    let text = std::str::from_utf8(input).map_err(|err| failed(&err))?;
    let xml_options = roxmltree::ParsingOptions {
        // A DOCTYPE is only read when it has no internal subset, so no entity is declared.
        allow_dtd: match doctype(text) {
            Doctype::None => false,
            Doctype::External => true,
            Doctype::InternalSubset => {
                return Err(ProcessError::image(
                    "svg: DTD internal subsets (entity declarations) are not allowed",
                ));
            }
        },
        nodes_limit: MAX_XML_NODES,
        ..roxmltree::ParsingOptions::default()
    };
    let document =
        roxmltree::Document::parse_with_options(text, xml_options).map_err(|err| failed(&err))?;
    if depth(&document) > MAX_SVG_DEPTH {
        return Err(ProcessError::image("svg: nested too deeply"));
    }
    if weigh(&document) > MAX_ELEMENTS {
        return Err(too_complex());
    }
    let options = usvg::Options {
        image_href_resolver: usvg::ImageHrefResolver {
            resolve_data: Box::new(|_, _, _| None),
            resolve_string: Box::new(|_, _| None),
        },
        ..usvg::Options::default()
    };
    usvg::Tree::from_xmltree(&document, &options).map_err(|err| failed(&err))
}

/// The largest SVG source read, in bytes (4 MiB). Larger documents are refused before they
/// are parsed.
pub const MAX_SVG_BYTES: usize = 4 << 20;
/// XML nodes (elements, text, comments) a document may hold.
const MAX_XML_NODES: u32 = 2_000_000;

/// What the prolog of a document declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Doctype {
    /// No `<!DOCTYPE>` (or a prolog the XML parser will refuse anyway).
    None,
    /// A `<!DOCTYPE>` naming an external DTD only (as Illustrator writes); the DTD is never
    /// read, so it declares nothing.
    External,
    /// A `<!DOCTYPE … [ … ]>` with an internal subset, where entities are declared.
    InternalSubset,
}

/// Reads the prolog of `text` (byte order mark, XML declaration, comments, processing
/// instructions, white space) up to the `<!DOCTYPE`, and says whether that has an internal
/// subset. Quoted identifiers may hold `[` and `>`.
pub(super) fn doctype(text: &str) -> Doctype {
    let mut rest = text.trim_start_matches('\u{feff}');
    loop {
        rest = rest.trim_start_matches([' ', '\t', '\r', '\n']);
        if let Some(after) = rest.strip_prefix("<?") {
            let Some(end) = after.find("?>") else {
                return Doctype::None;
            };
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix("<!--") {
            let Some(end) = after.find("-->") else {
                return Doctype::None;
            };
            rest = &after[end + 3..];
        } else {
            break;
        }
    }
    let Some(declaration) = rest.strip_prefix("<!DOCTYPE") else {
        return Doctype::None;
    };
    let mut quote = None;
    for byte in declaration.bytes() {
        match (quote, byte) {
            (Some(open), _) if byte == open => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(byte),
            (None, b'[') => return Doctype::InternalSubset,
            (None, b'>') => return Doctype::External,
            (None, _) => {}
        }
    }
    Doctype::None
}

/// How deep drawing `document` may recurse: the longest chain of elements through their
/// children, `href` targets (`use`, gradients, patterns, filters, `textPath`) and `url(#…)`
/// references in attributes (clip paths, masks, filters, markers, pattern fills).
///
/// usvg and resvg recurse along these chains, so this bounds the stack drawing needs. A
/// chain that loops counts as long as the document has elements; references in `<style>`
/// sheets, which may apply anywhere, multiply the depth by one more for each element they
/// name that is not a gradient.
pub(super) fn depth(document: &roxmltree::Document<'_>) -> usize {
    let mut ids = HashMap::new();
    for node in document.descendants().filter(roxmltree::Node::is_element) {
        if let Some(id) = node.attribute("id") {
            ids.entry(id).or_insert(node);
        }
    }
    let mut styled = HashSet::new();
    for sheet in document
        .descendants()
        .filter(|node| node.has_tag_name((SVG_NS, "style")))
    {
        for text in sheet.children().filter_map(|node| node.text()) {
            for id in url_ids(text) {
                let leaf = ids.get(id).is_some_and(|target| {
                    matches!(
                        target.tag_name().name(),
                        "linearGradient" | "radialGradient"
                    )
                });
                if !leaf {
                    styled.insert(id);
                }
            }
        }
    }
    let mut depths: HashMap<roxmltree::NodeId, usize> = HashMap::new();
    let mut open = HashSet::new();
    let mut looped = false;
    let root = document.root_element();
    let mut stack = vec![(root, false)];
    while let Some((node, ready)) = stack.pop() {
        if depths.contains_key(&node.id()) {
            continue;
        }
        let next = references(node, &ids);
        if ready {
            let deepest = next
                .iter()
                .filter_map(|part| depths.get(&part.id()))
                .max()
                .copied()
                .unwrap_or(0);
            depths.insert(node.id(), deepest + 1);
            open.remove(&node.id());
        } else if open.insert(node.id()) {
            stack.push((node, true));
            for part in next {
                if open.contains(&part.id()) {
                    looped = true;
                } else if !depths.contains_key(&part.id()) {
                    stack.push((part, false));
                }
            }
        }
    }
    let deepest = if looped {
        document
            .descendants()
            .filter(roxmltree::Node::is_element)
            .count()
    } else {
        depths.values().copied().max().unwrap_or(0)
    };
    deepest.saturating_mul(styled.len() + 1)
}

/// The elements drawing `node` recurses into: its child elements, its `href` target and the
/// targets of `url(#…)` in its attributes.
fn references<'a, 'input>(
    node: roxmltree::Node<'a, 'input>,
    ids: &HashMap<&str, roxmltree::Node<'a, 'input>>,
) -> Vec<roxmltree::Node<'a, 'input>> {
    let mut found: Vec<_> = node
        .children()
        .filter(roxmltree::Node::is_element)
        .collect();
    for attribute in node.attributes() {
        let value = attribute.value();
        let targets: Vec<&str> = if attribute.name() == "href" {
            value.trim().strip_prefix('#').into_iter().collect()
        } else {
            url_ids(value).collect()
        };
        found.extend(
            targets
                .into_iter()
                .filter_map(|id| ids.get(id).copied())
                .filter(|target| *target != node),
        );
    }
    found
}

/// The ids named by `url(#id)` in `text` (quotes and spaces around the id allowed).
fn url_ids(text: &str) -> impl Iterator<Item = &str> {
    text.split("url(").skip(1).filter_map(|after| {
        let inside = after.split(')').next()?;
        let inside = inside.trim().trim_matches(['"', '\'']).trim();
        inside.strip_prefix('#')
    })
}
/// Elements a document may expand to (a few seconds of usvg's work).
pub(super) const MAX_ELEMENTS: u64 = 200_000;

/// The elements `document` expands to (see [`parse`]), saturating a little over
/// [`MAX_ELEMENTS`].
pub(super) fn weigh(document: &roxmltree::Document<'_>) -> u64 {
    let mut ids = HashMap::new();
    for node in document.descendants().filter(roxmltree::Node::is_element) {
        if let Some(id) = node.attribute("id") {
            ids.entry(id).or_insert(node);
        }
    }
    let root = document.root_element();
    let mut plain = HashMap::new();
    let total = weigh_from(root, &ids, 0, &mut plain);
    // Marker contents are copied to every vertex of the shapes that use them; which shapes
    // do is decided by styles, so every shape counts as using the largest marker.
    let marker = document
        .descendants()
        .filter(|node| node.has_tag_name((SVG_NS, "marker")))
        .filter_map(|node| plain.get(&node.id()).copied())
        .max();
    match marker {
        Some(marker) => weigh_from(root, &ids, marker, &mut HashMap::new()),
        None => total,
    }
}

/// The SVG namespace.
const SVG_NS: &str = "http://www.w3.org/2000/svg";
/// The XLink namespace (`xlink:href`).
const XLINK_NS: &str = "http://www.w3.org/1999/xlink";

/// The elements under `root`, each shape adding `marker` per number of its data, saturating
/// a little over [`MAX_ELEMENTS`]. Walks with its own stack; a `use` inside what it points to
/// counts nothing, as usvg skips it.
fn weigh_from<'a, 'input>(
    root: roxmltree::Node<'a, 'input>,
    ids: &HashMap<&str, roxmltree::Node<'a, 'input>>,
    marker: u64,
    weights: &mut HashMap<roxmltree::NodeId, u64>,
) -> u64 {
    let cap = MAX_ELEMENTS + 1;
    let mut open = HashSet::new();
    let mut stack = vec![(root, false)];
    while let Some((node, ready)) = stack.pop() {
        if weights.contains_key(&node.id()) {
            continue;
        }
        let parts = parts(node, ids);
        if ready {
            let own = 1 + numbers(node).saturating_mul(marker);
            let total = parts
                .iter()
                .filter_map(|part| weights.get(&part.id()))
                .fold(own, |sum, &weight| sum.saturating_add(weight));
            weights.insert(node.id(), total.min(cap));
            open.remove(&node.id());
        } else if open.insert(node.id()) {
            stack.push((node, true));
            for part in parts {
                if !weights.contains_key(&part.id()) && !open.contains(&part.id()) {
                    stack.push((part, false));
                }
            }
        }
    }
    weights.get(&root.id()).copied().unwrap_or(0)
}

/// What an element is built from: the element a `use` points to, or its child elements.
fn parts<'a, 'input>(
    node: roxmltree::Node<'a, 'input>,
    ids: &HashMap<&str, roxmltree::Node<'a, 'input>>,
) -> Vec<roxmltree::Node<'a, 'input>> {
    if node.has_tag_name((SVG_NS, "use")) {
        let href = node
            .attribute("href")
            .or_else(|| node.attribute((XLINK_NS, "href")));
        href.and_then(|href| href.trim().strip_prefix('#'))
            .and_then(|id| ids.get(id).copied())
            .filter(|target| *target != node)
            .into_iter()
            .collect()
    } else {
        node.children()
            .filter(roxmltree::Node::is_element)
            .collect()
    }
}

/// The numbers in a shape's geometry (path data, polyline points), which bound its vertices.
fn numbers(node: roxmltree::Node<'_, '_>) -> u64 {
    let data = match node.tag_name().name() {
        "path" => node.attribute("d"),
        "polyline" | "polygon" => node.attribute("points"),
        "line" => return 2,
        _ => None,
    };
    let Some(data) = data else {
        return 0;
    };
    let is_number = |b: u8| b.is_ascii_digit() || b == b'.';
    let mut count = 0u64;
    let mut previous = false;
    for byte in data.bytes() {
        let current = is_number(byte);
        if current && !previous {
            count += 1;
        }
        previous = current;
    }
    count
}

/// The error of a document over a drawing or expansion budget.
pub(super) fn too_complex() -> ProcessError {
    ProcessError::image("svg is too complex to draw")
}

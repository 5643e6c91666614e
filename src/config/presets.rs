//! The presets file (`IMAGOR_PRESETS_PATH`): named path options read from YAML.
//!
//! ```yaml
//! presets:
//!   thumb: "fit-in/200x200/filters:format(webp)"
//!   gray: "filters:grayscale()"
//! ```
//!
//! Every problem is reported with the file, the 1-based line and the field: YAML that does
//! not parse, a key other than `presets`, a value that is not text, a name that is empty or
//! holds `,` or `/`, a name given twice, and a value that is not imagor path options (an
//! image path, a `preset:` reference, options out of imagor's order).
//!
//! # Example
//!
//! ```
//! use imagor_tower::config::{presets_from_yaml, PresetsFileError};
//!
//! let presets = presets_from_yaml("presets:\n  thumb: \"fit-in/200x200\"\n").unwrap();
//! assert_eq!(presets.get("thumb").map(|p| p.width), Some(200));
//!
//! let err = presets_from_yaml("presets:\n  ok: 10x10\n  bad: 10x10/photo.jpg\n").unwrap_err();
//! assert_eq!(err.line(), Some(3));
//! assert_eq!(err.field(), Some("presets.bad"));
//! ```

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;

use crate::path::Presets;

/// The longest presets file read, in bytes.
const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// Reads a presets file (`IMAGOR_PRESETS_PATH`).
///
/// # Errors
///
/// A [`PresetsFileError`] naming the file, and for content errors the line and field.
///
/// # Example
///
/// ```
/// use imagor_tower::config::presets_from_file;
///
/// let dir = tempfile::tempdir().unwrap();
/// let file = dir.path().join("presets.yaml");
/// std::fs::write(&file, "presets:\n  thumb: fit-in/200x200/filters:format(webp)\n").unwrap();
/// let presets = presets_from_file(&file).unwrap();
/// assert_eq!(presets.names().collect::<Vec<_>>(), ["thumb"]);
///
/// let err = presets_from_file(dir.path().join("missing.yaml")).unwrap_err();
/// assert!(err.to_string().contains("missing.yaml"), "{err}");
/// ```
pub fn presets_from_file(path: impl AsRef<Path>) -> Result<Presets, PresetsFileError> {
    let path = path.as_ref();
    let read = |source| PresetsFileError::Read {
        path: path.to_owned(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read)?.len();
    if size > MAX_FILE_SIZE {
        return Err(read(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("file too large ({size} bytes, at most {MAX_FILE_SIZE})"),
        )));
    }
    let text = std::fs::read_to_string(path).map_err(read)?;
    presets_from_yaml(&text).map_err(|err| err.in_file(path))
}

/// Parses presets YAML: a mapping `presets` of names to path options.
///
/// # Errors
///
/// A [`PresetsFileError::Invalid`] with the line and field.
pub fn presets_from_yaml(text: &str) -> Result<Presets, PresetsFileError> {
    let file: PresetsYaml = serde_saphyr::from_str(text).map_err(|err| yaml_error(text, &err))?;
    let mut presets = Presets::new();
    let mut seen = std::collections::HashSet::new();
    for (name, value) in file.presets.0 {
        let field = if name.value.is_empty() {
            "presets".to_owned()
        } else {
            format!("presets.{}", name.value)
        };
        if !seen.insert(name.value.clone()) {
            return Err(PresetsFileError::invalid(
                line_of(&name),
                field,
                "the preset is defined twice".to_owned(),
            ));
        }
        if let Err(err) = presets.insert(&name.value, &value.value) {
            // A bad name points at the key, a bad value at the value.
            let at = if err.name() == name.value && value_is_fine(&value.value) {
                &name
            } else {
                &value
            };
            return Err(PresetsFileError::invalid(
                line_of(at),
                field,
                err.reason().to_owned(),
            ));
        }
    }
    Ok(presets)
}

/// Whether `value` alone defines a preset (so an error must be about the name).
fn value_is_fine(value: &str) -> bool {
    Presets::new().with("x", value).is_ok()
}

fn line_of(spanned: &Spanned<String>) -> Option<usize> {
    usize::try_from(spanned.referenced.line())
        .ok()
        .filter(|line| *line > 0)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresetsYaml {
    presets: Entries,
}

/// The `presets` mapping in file order, with the position of every name and value.
struct Entries(Vec<(Spanned<String>, Spanned<String>)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of preset names to imagor path options")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

/// A presets file that could not be used.
///
/// ```
/// use imagor_tower::config::{presets_from_yaml, PresetsFileError};
///
/// let err = presets_from_yaml("presets:\n  \"a,b\": 10x10\n").unwrap_err();
/// assert!(matches!(err, PresetsFileError::Invalid { .. }));
/// assert_eq!(
///     err.to_string(),
///     "presets file, line 2, field presets.a,b: a preset name cannot contain ',' or '/'"
/// );
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PresetsFileError {
    /// The file could not be read.
    #[error("presets file {}: cannot read the file: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The content is not a valid presets file.
    #[error("{}", describe(path.as_deref(), *line, field.as_deref(), message))]
    Invalid {
        /// The file, when the presets came from one.
        path: Option<PathBuf>,
        /// The 1-based line, where known.
        line: Option<usize>,
        /// The field at fault, such as `presets.thumb`.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
}

impl PresetsFileError {
    fn invalid(line: Option<usize>, field: String, message: String) -> Self {
        Self::Invalid {
            path: None,
            line,
            field: Some(field),
            message,
        }
    }

    /// The same error, naming `file` as its file.
    #[must_use]
    pub fn in_file(self, file: &Path) -> Self {
        match self {
            Self::Invalid {
                line,
                field,
                message,
                ..
            } => Self::Invalid {
                path: Some(file.to_owned()),
                line,
                field,
                message,
            },
            read @ Self::Read { .. } => read,
        }
    }

    /// The 1-based line of the error, where known.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Invalid { line, .. } => *line,
            Self::Read { .. } => None,
        }
    }

    /// The field at fault, where known.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => field.as_deref(),
            Self::Read { .. } => None,
        }
    }
}

fn describe(
    path: Option<&Path>,
    line: Option<usize>,
    field: Option<&str>,
    message: &str,
) -> String {
    let mut text = String::from("presets file");
    if let Some(path) = path {
        text.push(' ');
        text.push_str(&path.display().to_string());
    }
    if let Some(line) = line {
        text.push_str(&format!(", line {line}"));
    }
    if let Some(field) = field {
        text.push_str(&format!(", field {field}"));
    }
    text.push_str(": ");
    text.push_str(message);
    text
}

/// A YAML error: the line from its location, the field from the key on that line.
fn yaml_error(text: &str, err: &serde_saphyr::Error) -> PresetsFileError {
    let line = err
        .location()
        .and_then(|location| usize::try_from(location.line()).ok())
        .filter(|line| *line > 0);
    let full = err.without_snippet().to_string();
    let first = full.lines().next().unwrap_or_default();
    let first = first.split(" at line ").next().unwrap_or(first);
    let message = first.split_whitespace().collect::<Vec<_>>().join(" ");
    let field = line.and_then(|line| field_on_line(text, line));
    PresetsFileError::Invalid {
        path: None,
        line,
        field,
        message,
    }
}

/// The field a 1-based line defines: `presets` at the top level, `presets.NAME` inside it.
fn field_on_line(text: &str, line: usize) -> Option<String> {
    let row = text.lines().nth(line.checked_sub(1)?)?;
    let indented = row.starts_with([' ', '\t']);
    let (key, _) = row.trim_start().split_once(':')?;
    let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
    if key.is_empty() {
        return None;
    }
    Some(if indented {
        format!("presets.{key}")
    } else {
        key.to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> PresetsFileError {
        presets_from_yaml(text).unwrap_err()
    }

    #[test]
    fn reads_names_and_values_in_block_and_flow_style() {
        let presets = presets_from_yaml(
            "# sizes\npresets:\n  thumb: fit-in/200x200/filters:format(webp)\n  \"gray\": 'filters:grayscale()'\n",
        )
        .unwrap();
        assert_eq!(presets.len(), 2);
        assert!(presets.get("thumb").unwrap().fit_in);
        assert_eq!(presets.get("gray").unwrap().filters.len(), 1);
        let flow = presets_from_yaml("presets: {thumb: \"fit-in/200x200\"}").unwrap();
        assert_eq!(flow.len(), 1);
        assert!(presets_from_yaml("presets: {}\n").unwrap().is_empty());
    }

    #[test]
    fn every_error_has_line_and_field() {
        let cases: &[(&str, usize, &str, &str)] = &[
            (
                "presets:\n  a: 10x10\n  b: 10x10/photo.jpg\n",
                3,
                "presets.b",
                "not an imagor path option",
            ),
            (
                "presets:\n  a: 10x10\n  b: preset:a\n",
                3,
                "presets.b",
                "another preset",
            ),
            ("presets:\n  \"\": 10x10\n", 2, "presets", "cannot be empty"),
            (
                "presets:\n  a/b: 10x10\n",
                2,
                "presets.a/b",
                "cannot contain",
            ),
            (
                "presets:\n  a: \"\"\n",
                2,
                "presets.a",
                "the value is empty",
            ),
            (
                "presets:\n  a: 10x10\n  a: 20x20\n",
                3,
                "presets.a",
                "duplicate",
            ),
            ("presets:\n  a: [1, 2]\n", 2, "presets.a", ""),
            ("presets:\n  a: 10x10\nextra: 1\n", 3, "extra", "extra"),
            ("presets:\n  a: \"10x10\n", 2, "presets.a", ""),
        ];
        for (text, line, field, needle) in cases {
            let err = err(text);
            assert_eq!(err.line(), Some(*line), "{text:?}: {err}");
            assert_eq!(err.field(), Some(*field), "{text:?}: {err}");
            assert!(err.to_string().contains(needle), "{text:?}: {err}");
        }
    }

    #[test]
    fn missing_presets_key_is_an_error() {
        let err = err("thumbs:\n  a: 10x10\n");
        assert!(err.to_string().starts_with("presets file"), "{err}");
        assert!(err.line().is_some(), "{err}");
    }

    #[test]
    fn file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("presets.yaml");
        std::fs::write(&file, "presets:\n  bad: 10x10/x.jpg\n").unwrap();
        let err = presets_from_file(&file).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "presets file {}, line 2, field presets.bad: ",
                file.display()
            )),
            "{text}"
        );
        let err = presets_from_file(dir.path().join("nope.yaml")).unwrap_err();
        assert!(matches!(err, PresetsFileError::Read { .. }));
    }
}

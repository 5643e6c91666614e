//! The shape of the source tree: no import circles between files, no file over 1,000 lines
//! (but the codec and text modules that are one concern), and no comment or doc pointing at
//! files outside the repository.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 1000;

/// Files allowed past [`MAX_LINES`]: each is one codec or one concern that splitting would
/// only scatter.
const LONG_FILES: &[&str] = &["processing/jpeg/dc.rs", "processing/ops/text.rs"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn relative(path: &Path) -> String {
    path.strip_prefix(src())
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

#[test]
fn no_source_file_is_over_a_thousand_lines() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter(|f| !LONG_FILES.contains(&relative(f).as_str()))
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).unwrap().lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", relative(f)))
        })
        .collect();
    assert!(long.is_empty(), "split these files: {long:?}");
}

#[test]
fn nothing_points_at_files_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [
        "src", "tests", "examples", "benches", "docs", "scripts", ".ci", "fuzz",
    ] {
        collect_text(&root.join(dir), &mut files);
    }
    files.push(root.join("README.md"));
    files.push(root.join("CHANGELOG.md"));
    // The names of the specification this crate was built from, which users do not have.
    let names = ["SERVER", "FILTERS", "URL", "DESIGN", "STYLE"].map(|n| format!("{n}.md"));
    let mut found = Vec::new();
    for file in &files {
        if file.ends_with("structure.rs") || file.extension().is_some_and(|e| e == "json") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if names.iter().any(|name| line.contains(name.as_str())) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "{} references to files outside the repository:\n{}",
        found.len(),
        found.join("\n")
    );
}

fn collect_text(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let generated = path.file_name().is_some_and(|n| {
            ["target", "corpus", "artifacts", "coverage"].contains(&&*n.to_string_lossy())
        });
        if path.is_dir() && !generated {
            collect_text(&path, out);
        } else if path.is_file() {
            out.push(path);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Import circles

/// A module path below the crate root, e.g. `["render", "core"]`.
type ModPath = Vec<String>;

/// One `use` of a file: the absolute path it names, and whether it is a `pub use`.
struct Use {
    path: ModPath,
    public: bool,
}

/// What the checker knows of the crate: which file each module is, which file defines each
/// name, and what each file uses.
struct Crate {
    files: Vec<PathBuf>,
    modules: HashMap<ModPath, PathBuf>,
    defs: HashMap<(ModPath, String), PathBuf>,
    reexports: HashMap<(ModPath, String), ModPath>,
    uses: HashMap<PathBuf, Vec<Use>>,
}

/// The text of a file without comments and without its trailing `#[cfg(test)] mod tests`.
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(['/']) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        if tail.starts_with("//") {
            rest = tail.find('\n').map_or("", |end| &tail[end..]);
        } else if tail.starts_with("/*") {
            rest = tail.find("*/").map_or("", |end| &tail[end + 2..]);
        } else {
            out.push('/');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    match out.find("#[cfg(test)]\nmod tests {") {
        Some(at) => out[..at].to_owned(),
        None => out,
    }
}

fn module_of(file: &Path) -> ModPath {
    let rel = relative(file);
    let mut segs: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if matches!(
        segs.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        segs.pop();
    }
    segs
}

/// Splits `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.to_owned()];
    };
    let close = tree.rfind('}').unwrap_or(tree.len());
    let (prefix, inner) = (&tree[..open], &tree[open + 1..close]);
    let mut parts = Vec::new();
    let (mut depth, mut current) = (0, String::new());
    for c in inner.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    parts
        .iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(|p| expand(&format!("{prefix}{}", p.trim())))
        .collect()
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

/// The names a file defines at any depth (items of nested modules are rare and count too).
fn definitions(code: &str) -> Vec<String> {
    let keywords = [
        "struct", "enum", "trait", "type", "fn", "const", "static", "union",
    ];
    let words: Vec<&str> = code
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '!'))
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::new();
    for pair in words.windows(2) {
        let name = pair[1];
        if (keywords.contains(&pair[0]) || pair[0] == "macro_rules!")
            && name.starts_with(is_ident_start)
        {
            out.push(name.to_owned());
        }
    }
    out
}

/// Every `use` statement of `code`, with whether it is `pub` (of any visibility).
fn use_statements(code: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut at = 0;
    while let Some(found) = code[at..].find("use ") {
        let start = at + found;
        at = start + 4;
        if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            continue;
        }
        let line_start = code[..start]
            .rfind(['\n', ';', '{', '}'])
            .map_or(0, |i| i + 1);
        let head = code[line_start..start].trim();
        let public = head.starts_with("pub");
        if !(head.is_empty() || public || head.starts_with("#[")) {
            continue;
        }
        let Some(end) = code[at..].find(';') else {
            break;
        };
        out.push((code[at..at + end].to_owned(), public));
        at += end;
    }
    out
}

impl Crate {
    fn read() -> Self {
        let mut files = Vec::new();
        rust_files(&src(), &mut files);
        let modules: HashMap<ModPath, PathBuf> =
            files.iter().map(|f| (module_of(f), f.clone())).collect();
        let mut this = Self {
            files: files.clone(),
            modules,
            defs: HashMap::new(),
            reexports: HashMap::new(),
            uses: HashMap::new(),
        };
        for file in &files {
            let code = code_of(&std::fs::read_to_string(file).unwrap());
            let module = module_of(file);
            for name in definitions(&code) {
                this.defs
                    .entry((module.clone(), name))
                    .or_insert_with(|| file.clone());
            }
            let mut uses = Vec::new();
            for (tree, public) in use_statements(&code) {
                for path in expand(&tree) {
                    let (path, alias) = match path.split_once(" as ") {
                        Some((path, alias)) => (path.trim().to_owned(), Some(alias.trim())),
                        None => (path, None),
                    };
                    let mut segs: Vec<String> = path
                        .split("::")
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect();
                    if segs.last().is_some_and(|s| s == "self") {
                        segs.pop();
                    }
                    let Some(absolute) = this.absolute(&module, segs) else {
                        continue;
                    };
                    if public
                        && let Some(last) = absolute.last()
                        && last != "*"
                    {
                        let name = alias.map_or_else(|| last.clone(), str::to_owned);
                        this.reexports
                            .insert((module.clone(), name), absolute.clone());
                    }
                    uses.push(Use {
                        path: absolute,
                        public,
                    });
                }
            }
            this.uses.insert(file.clone(), uses);
        }
        this
    }

    /// The absolute module path `segs` names from `module`, or `None` for other crates.
    fn absolute(&self, module: &ModPath, mut segs: Vec<String>) -> Option<ModPath> {
        let first = segs.first()?.clone();
        match first.as_str() {
            "crate" => Some(segs.split_off(1)),
            "super" | "self" => {
                let mut current = module.clone();
                while let Some(first) = segs.first() {
                    match first.as_str() {
                        "super" => {
                            current.pop();
                        }
                        "self" => {}
                        _ => break,
                    }
                    segs.remove(0);
                }
                current.extend(segs);
                Some(current)
            }
            _ => {
                let mut child = module.clone();
                child.push(first);
                self.modules.contains_key(&child).then(|| {
                    let mut path = module.clone();
                    path.extend(segs);
                    path
                })
            }
        }
    }

    /// The file that defines what `path` names (following re-exports), or the module's file.
    fn resolve(&self, path: &[String], depth: usize) -> Option<PathBuf> {
        if depth > 20 {
            return None;
        }
        let Some((name, parent)) = path.split_last() else {
            return self.modules.get(&Vec::new()).cloned();
        };
        if name == "*" {
            return self.modules.get(parent).cloned();
        }
        // The longest prefix that is a module; what follows is an item (and maybe a variant).
        let base_len = (0..=parent.len())
            .rev()
            .find(|&k| self.modules.contains_key(&parent[..k]))?;
        let base = parent[..base_len].to_vec();
        let item = parent.get(base_len).unwrap_or(name).clone();
        if base_len == parent.len()
            && self.modules.contains_key(path)
            && !self.defs.contains_key(&(base.clone(), item.clone()))
        {
            return self.modules.get(path).cloned();
        }
        let key = (base.clone(), item);
        if let Some(file) = self.defs.get(&key) {
            return Some(file.clone());
        }
        if let Some(target) = self.reexports.get(&key) {
            return self.resolve(target, depth + 1);
        }
        self.modules.get(&base).cloned()
    }

    fn edges(&self) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
        let mut edges = BTreeMap::new();
        for file in &self.files {
            let targets: BTreeSet<PathBuf> = self.uses[file]
                .iter()
                .filter(|u| !u.public)
                .filter_map(|u| self.resolve(&u.path, 0))
                .filter(|target| target != file)
                .collect();
            edges.insert(file.clone(), targets);
        }
        edges
    }
}

/// Strongly connected components of more than one file (Tarjan's algorithm).
fn circles(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct State<'a> {
        edges: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: HashMap<&'a PathBuf, usize>,
        low: HashMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on_stack: BTreeSet<&'a PathBuf>,
        out: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a PathBuf) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in &s.edges[v] {
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut state = State {
        edges,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !state.index.contains_key(v) {
            visit(&mut state, v);
        }
    }
    state.out
}

#[test]
fn no_two_source_files_import_each_other_directly_or_through_a_loop() {
    let krate = Crate::read();
    let edges = krate.edges();
    let found = circles(&edges);
    let report: Vec<String> = found
        .iter()
        .map(|component| {
            let mut lines = vec![format!(
                "circle: {}",
                component
                    .iter()
                    .map(|f| relative(f))
                    .collect::<Vec<_>>()
                    .join(" ")
            )];
            for a in component {
                for b in &edges[a] {
                    if component.contains(b) {
                        lines.push(format!("    {} -> {}", relative(a), relative(b)));
                    }
                }
            }
            lines.join("\n")
        })
        .collect();
    assert!(report.is_empty(), "{}", report.join("\n"));
}

#[test]
fn the_circle_check_sees_a_circle() {
    let a = PathBuf::from("a.rs");
    let b = PathBuf::from("b.rs");
    let c = PathBuf::from("c.rs");
    let mut edges = BTreeMap::new();
    edges.insert(a.clone(), BTreeSet::from([b.clone()]));
    edges.insert(b.clone(), BTreeSet::from([c.clone()]));
    edges.insert(c.clone(), BTreeSet::from([a.clone()]));
    edges.insert(c.clone(), BTreeSet::new());
    assert!(circles(&edges).is_empty());
    edges.insert(c.clone(), BTreeSet::from([a.clone()]));
    assert_eq!(circles(&edges), vec![vec![a, b, c]]);
    assert_eq!(
        expand("super::{a, b::{c, d as e}}"),
        ["super::a", "super::b::c", "super::b::d as e"]
    );
}

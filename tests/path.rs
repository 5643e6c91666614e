//! The URL grammar against the vendored conformance vectors, plus round-trip and robustness
//! properties and the fuzzer's regression inputs.
//!
//! Run with `cargo test --test path -- --nocapture` to see the vector counts.

use imagor_tower::path::{
    Filter, HAlign, Params, Signer, SignerAlgorithm, TrimBy, VAlign, parse, parse_rest,
    query_unescape, split_args,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const PARSE_CASES: &str = include_str!("data/conformance/parse-cases.json");
const SIGN_CASES: &str = include_str!("data/conformance/sign-cases.json");
const FILTER_ARGS_CASES: &str = include_str!("data/conformance/filter-args-cases.json");

fn load(text: &str) -> Value {
    serde_json::from_str(text).expect("vendored vectors are valid JSON")
}

fn text(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is a string in {v}"))
        .to_owned()
}

/// A parsed record as the vectors spell it (imagor's field names, every field).
fn as_vector(p: &Params) -> Value {
    json!({
        "params_endpoint": p.params_endpoint,
        "path": p.path,
        "image": p.image,
        "base64_image": p.base64_image,
        "unsafe": p.is_unsafe,
        "hash": p.hash,
        "meta": p.meta,
        "trim": p.trim,
        "trim_by": p.trim_by.map_or("", TrimBy::as_str),
        "trim_tolerance": p.trim_tolerance,
        "crop_left": p.crop_left,
        "crop_top": p.crop_top,
        "crop_right": p.crop_right,
        "crop_bottom": p.crop_bottom,
        "fit_in": p.fit_in,
        "adaptive_fit_in": p.adaptive_fit_in,
        "full_fit_in": p.full_fit_in,
        "stretch": p.stretch,
        "width": p.width,
        "height": p.height,
        "padding_left": p.padding_left,
        "padding_top": p.padding_top,
        "padding_right": p.padding_right,
        "padding_bottom": p.padding_bottom,
        "h_flip": p.h_flip,
        "v_flip": p.v_flip,
        "h_align": p.h_align.map_or("", HAlign::as_str),
        "v_align": p.v_align.map_or("", VAlign::as_str),
        "smart": p.smart,
        "filters": p.filters.iter().map(|f| json!({"name": f.name, "args": f.args})).collect::<Vec<_>>(),
    })
}

/// JSON equality where numbers compare by value (`10.0` in a vector equals our `10`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn signer_from(spec: &Value) -> Signer {
    Signer::new(text(spec, "secret"))
        .algorithm(SignerAlgorithm::from_name(&text(spec, "algorithm")))
        .truncate(
            spec["truncate"]
                .as_u64()
                .and_then(|t| usize::try_from(t).ok())
                .expect("truncate is a small integer"),
        )
}

#[test]
fn parse_vectors() {
    let cases = load(PARSE_CASES);
    let cases = cases.as_array().expect("a list of cases");
    let mut failures = Vec::new();
    let mut fields_checked = 0;
    for case in cases {
        let name = text(case, "name");
        let parsed = parse(&text(case, "path"));
        let ours = as_vector(&parsed);
        let expected = case["params"].as_object().expect("params object");
        for (field, want) in expected {
            fields_checked += 1;
            let got = &ours[field.as_str()];
            if got.is_null() {
                failures.push(format!("{name}: unknown field `{field}` in the vector"));
            } else if !same(got, want) {
                failures.push(format!("{name}: `{field}` is {got}, expected {want}"));
            }
        }
    }
    let passed = cases.len() - count_cases(&failures);
    println!(
        "parse: {passed}/{} cases ({fields_checked} fields compared)",
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(cases.len(), 62);
}

fn count_cases(failures: &[String]) -> usize {
    let mut names: Vec<&str> = failures
        .iter()
        .filter_map(|f| f.split(": ").next())
        .collect();
    names.dedup();
    names.len()
}

#[test]
fn generate_vectors() {
    let cases = load(PARSE_CASES);
    let mut total = 0;
    let mut failures = Vec::new();
    for case in cases.as_array().expect("a list of cases") {
        let Some(generate) = case.get("generate").filter(|g| !g.is_null()) else {
            continue;
        };
        total += 1;
        let name = text(case, "name");
        let params = parse(&text(case, "path"));
        let path = params.generate();
        assert_eq!(path, params.to_string(), "Display equals generate");
        let got = match text(generate, "mode").as_str() {
            "path_only" => path,
            "unsafe" => format!("unsafe/{path}"),
            "signed" => {
                let signer = signer_from(&case["signer"]);
                format!("{}/{path}", signer.sign(&path))
            }
            other => panic!("{name}: unknown generate mode {other}"),
        };
        let want = text(generate, "expected");
        if got != want {
            failures.push(format!("{name}: generated {got:?}, expected {want:?}"));
        }
    }
    println!("generate: {}/{total}", total - failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(total, 40);
}

#[test]
fn sign_vectors() {
    let cases = load(SIGN_CASES);
    let cases = cases.as_array().expect("a list of cases");
    let mut failures = Vec::new();
    for case in cases {
        let signer = signer_from(case);
        let path = text(case, "path");
        let expected = text(case, "expected");
        let url = text(case, "url");
        let signature = signer.sign(&path);
        let parsed = parse(&url);
        let ok = signature == expected
            && signer.sign_url(&path) == url
            && signer.verify(&path, &expected)
            && !signer.verify(&path, &expected[1..])
            && !signer.verify(&format!("{path}x"), &expected)
            && parsed.hash == expected
            && parsed.path == path
            && signer.verify(&parsed.path, &parsed.hash);
        if !ok {
            failures.push(format!("{case}: signed {signature:?}"));
        }
    }
    println!("sign: {}/{}", cases.len() - failures.len(), cases.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(cases.len(), 16);
}

#[test]
fn split_args_vectors() {
    let data = load(FILTER_ARGS_CASES);
    let cases = data["split_args"]["cases"].as_array().expect("cases");
    let mut failures = Vec::new();
    for case in cases {
        let args = text(case, "args");
        let got = split_args(&args);
        let want: Vec<&str> = case["expected"]
            .as_array()
            .expect("expected list")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        if got != want {
            failures.push(format!("{args:?}: {got:?}, expected {want:?}"));
        }
    }
    println!(
        "split_args: {}/{}",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(cases.len(), 9);
}

#[test]
fn filters_segment_vectors() {
    let data = load(FILTER_ARGS_CASES);
    let cases = data["filters_segment"].as_array().expect("cases");
    let mut failures = Vec::new();
    for case in cases {
        let segment = text(case, "segment");
        let parsed = parse_rest(&segment);
        let want: Vec<Filter> = case["expected_filters"]
            .as_array()
            .expect("filter list")
            .iter()
            .map(|f| Filter::new(text(f, "name"), text(f, "args")))
            .collect();
        if parsed.filters != want || parsed.image != text(case, "expected_image") {
            failures.push(format!("{segment:?}: {parsed:?}"));
        }
    }
    println!(
        "filters_segment: {}/{}",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(cases.len(), 5);
}

#[test]
fn spec_worked_examples() {
    // Filters: names and arguments as imagor splits them.
    let p = parse(
        "unsafe/fit-in/500x400/0x20/filters:fill(white)/raw.githubusercontent.com/x/gopher.png",
    );
    assert!(p.is_unsafe && p.fit_in);
    assert_eq!((p.width, p.height), (500, 400));
    assert_eq!(
        [
            p.padding_left,
            p.padding_top,
            p.padding_right,
            p.padding_bottom
        ],
        [0, 20, 0, 20]
    );
    assert_eq!(p.filters, [Filter::new("fill", "white")]);
    assert_eq!(p.image, "raw.githubusercontent.com/x/gopher.png");

    let p = parse("unsafe/0.2x0.15:0.45x0.67/300x200/img");
    assert_eq!(
        [p.crop_left, p.crop_top, p.crop_right, p.crop_bottom],
        [0.2, 0.15, 0.45, 0.67]
    );
    assert_eq!(parse("unsafe/trim%2Fimg").image, "trim/img");
    assert_eq!(
        parse("99999999x99999999/img.jpg").hash,
        "99999999x99999999",
        "17 hash characters are a signature"
    );

    // Leading slashes, at the start and after the signature.
    let p = parse("///unsafe///300x200/a.png");
    assert!(p.is_unsafe);
    assert_eq!(p.width, 300);
    assert_eq!(p.image, "a.png");
    assert_eq!(p.path, "//300x200/a.png", "path keeps the text as received");

    // Segments that need their trailing slash stay in the image.
    assert_eq!(parse("unsafe").image, "unsafe");
    assert_eq!(parse("/unsafe/meta").image, "meta");
    assert_eq!(parse("/params").image, "params");
    assert!(parse("/params/").params_endpoint);
    assert_eq!(parse("/unsafe/").image, "");
    assert_eq!(parse("").path, "");
}

#[test]
fn escaped_retry_decodes_the_whole_path() {
    // A path sent encoded, signed over its decoded form.
    let signer = Signer::new("secret");
    let decoded = "filters:fill(red)/x.png";
    let sent = format!("/{}/filters%3Afill%28red%29/x.png", signer.sign(decoded));
    let first = parse(&sent);
    assert!(!signer.verify(&first.path, &first.hash));
    let retry = parse(&query_unescape(&sent).expect("well-formed escapes"));
    assert!(signer.verify(&retry.path, &retry.hash));
    assert_eq!(retry.filters, [Filter::new("fill", "red")]);
}

#[test]
fn nested_image_paths() {
    // The first argument of image() is a rest-path with an optional leading slash.
    let p = parse(
        "unsafe/200x200/filters:image(/100x100/filters:image(/50x50/g.png,center,center)/d.jpg,10,10)/base.jpg",
    );
    let args = split_args(&p.filters[0].args);
    assert_eq!(args.len(), 3);
    let nested = parse_rest(args[0]);
    assert_eq!((nested.width, nested.height), (100, 100));
    assert_eq!(nested.image, "d.jpg");
    let inner = parse_rest(split_args(&nested.filters[0].args)[0]);
    assert_eq!((inner.width, inner.image.as_str()), (50, "g.png"));
    assert_eq!(parse_rest("color:ff0000").image, "color:ff0000");
}

/// Inputs the fuzzer or review found interesting; each must parse without panicking and
/// give the documented result.
#[test]
fn regressions() {
    // An unmatched `)` takes the filter depth below zero: `/` is then text, so no image.
    let p = parse("unsafe/filters:a(1)b)/c(2)");
    assert_eq!(p.filters, [Filter::new("a", "1")]);
    assert_eq!(p.image, "");
    // Oversized numbers everywhere.
    let big = "9".repeat(400);
    let p = parse(&format!(
        "unsafe/trim:{big}/{big}x.{big}:1x1/{big}x-{big}/{big}x{big}/i"
    ));
    assert_eq!(p.trim_tolerance, 0);
    // 400 digits overflow to infinity, which reads as 0; `.999…` rounds to 1.
    assert_eq!((p.crop_left, p.crop_top), (0.0, 1.0));
    assert_eq!((p.width, p.height, p.v_flip), (0, 0, true));
    assert_eq!(p.padding_left, 0);
    // Multi-byte characters right after a `%` or inside escapes.
    assert_eq!(parse("unsafe/%é").image, "%é");
    assert_eq!(parse("unsafe/b64:%").image, "b64:%");
    assert_eq!(query_unescape("%\u{10ffff}"), None);
    // Decoded bytes that are not UTF-8 leave the image encoded (imagor would keep raw bytes).
    assert_eq!(parse("unsafe/%ff.jpg").image, "%ff.jpg");
    let p = parse("unsafe/b64:_w");
    assert_eq!((p.image.as_str(), p.base64_image), ("b64:_w", false));
}

fn align_h() -> impl Strategy<Value = Option<HAlign>> {
    prop_oneof![
        Just(None),
        Just(Some(HAlign::Left)),
        Just(Some(HAlign::Right))
    ]
}

fn align_v() -> impl Strategy<Value = Option<VAlign>> {
    prop_oneof![
        Just(None),
        Just(Some(VAlign::Top)),
        Just(Some(VAlign::Bottom))
    ]
}

fn size() -> impl Strategy<Value = i64> {
    prop_oneof![Just(0i64), 1i64..5000, 0i64..=i64::MAX]
}

/// Crop values the grammar reads back: whole numbers, or fractions below `limit` (1 for
/// left/top, 2 for right/bottom).
fn crop_value(limit: f64) -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        (0u32..10_000).prop_map(f64::from),
        (0.0f64..1e300).prop_map(f64::trunc),
        0.0f64..limit,
    ]
}

fn filter() -> impl Strategy<Value = Filter> {
    let plain = "[a-z0-9 ,.:/#*=-]{0,10}";
    let args = prop_oneof![
        plain.prop_map(String::from),
        (plain, plain, plain).prop_map(|(a, b, c)| format!("{a}({b}){c}")),
        (plain, "[a-z]{1,5}", plain)
            .prop_map(|(a, n, c)| format!("{a}/{n}/filters:x({c})/y.png,1")),
        "[哈é ,0-9]{0,6}".prop_map(String::from),
    ];
    ("[a-z_][a-z0-9_]{0,10}", args).prop_map(|(name, args)| Filter::new(name, args))
}

/// Images the generator writes in a form the parser decodes back to the same text: no `+` or
/// `%` (the image is query-decoded), and not starting like a segment, `filters:` or `b64:`
/// unless the generator escapes it (the keyword prefixes such as `fit-in/` and `filters:`).
fn image() -> impl Strategy<Value = (String, bool)> {
    let tail = "[A-Za-z0-9 ._~$&=@:/!*'?(),;#哈é-]{0,20}";
    prop_oneof![
        Just((String::new(), false)),
        ("[A-Z]", tail).prop_map(|(a, b)| (format!("{a}{b}"), false)),
        (
            prop::sample::select(vec![
                "trim", "meta", "fit-in", "stretch", "top", "left", "right", "bottom", "center",
                "smart",
            ]),
            tail
        )
            .prop_map(|(k, b)| (format!("{k}/{b}"), false)),
        any::<String>().prop_map(|s| (s, true)),
    ]
}

prop_compose! {
    /// Params in the canonical domain: every value is one the generator writes and the parser
    /// reads back unchanged. Outside it: `center`/`middle` (never written), negative sizes
    /// (written as flips), negative paddings/crops/tolerances (not written or not parsable),
    /// crop values like 1.5 on the left/top (not in the grammar), `trim_by` without `trim`
    /// and vice versa, `adaptive_fit_in`/`full_fit_in` without `fit_in`, filters with an
    /// empty name or unbalanced parentheses, and images that read as segments.
    fn canonical_params()(
        meta in any::<bool>(),
        trim in prop_oneof![
            Just(None),
            (prop_oneof![Just(TrimBy::TopLeft), Just(TrimBy::BottomRight)], prop_oneof![Just(0i64), 0i64..=i64::MAX])
                .prop_map(Some),
        ],
        crop in prop_oneof![
            Just([0.0; 4]),
            (crop_value(1.0), crop_value(1.0), crop_value(2.0), crop_value(2.0)).prop_map(|(a, b, c, d)| [a, b, c, d]),
        ],
        fit in prop_oneof![Just(None), (any::<bool>(), any::<bool>()).prop_map(Some)],
        stretch in any::<bool>(),
        (width, height, h_flip, v_flip) in (size(), size(), any::<bool>(), any::<bool>()),
        padding in prop_oneof![
            Just([0i64; 4]),
            (0i64..100).prop_map(|v| [v, v, v, v]),
            [size(), size(), size(), size()],
        ],
        h_align in align_h(),
        v_align in align_v(),
        smart in any::<bool>(),
        filters in prop::collection::vec(filter(), 0..4),
        (image, base64_image) in image(),
    ) -> Params {
        Params {
            meta,
            trim: trim.is_some(),
            trim_by: trim.map(|(by, _)| by),
            trim_tolerance: trim.map_or(0, |(_, t)| t),
            crop_left: crop[0],
            crop_top: crop[1],
            crop_right: crop[2],
            crop_bottom: crop[3],
            fit_in: fit.is_some(),
            adaptive_fit_in: fit.is_some_and(|(a, _)| a),
            full_fit_in: fit.is_some_and(|(_, f)| f),
            stretch,
            width,
            height,
            h_flip,
            v_flip,
            padding_left: padding[0],
            padding_top: padding[1],
            padding_right: padding[2],
            padding_bottom: padding[3],
            h_align,
            v_align,
            smart,
            filters,
            image,
            base64_image,
            ..Params::default()
        }
    }
}

/// Path-like text built from grammar tokens, to reach deeper than random strings do.
fn path_like() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        prop::sample::select(vec![
            "/",
            "unsafe/",
            "params/",
            "meta/",
            "trim",
            ":",
            "bottom-right",
            "fit-in/",
            "adaptive-full-fit-in/",
            "stretch/",
            "-",
            "x",
            "100",
            "0.",
            ".5",
            "1.",
            "left/",
            "center/",
            "middle/",
            "smart/",
            "filters:",
            "(",
            ")",
            ",",
            "b64:",
            "%",
            "%2F",
            "+",
            "\n",
            "\u{2028}",
            "é",
            "Ks_rl-tHMYbG7D_F5gVNhOdI1lc=/",
        ])
        .prop_map(String::from),
        "[a-zA-Z0-9%+=_.-]{0,6}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(token, 0..24).prop_map(|t| t.concat())
}

fn check_invariants(p: &Params) {
    assert!(p.width >= 0 && p.height >= 0);
    assert!(p.hash.is_empty() || p.hash.len() >= 17);
    assert!(
        [p.crop_left, p.crop_top, p.crop_right, p.crop_bottom]
            .iter()
            .all(|v| v.is_finite() && *v >= 0.0)
    );
    assert!(!p.path.contains(['\n', '\r', '\u{2028}']));
    for f in &p.filters {
        let _ = split_args(&f.args);
    }
    let json = p.to_params_json();
    serde_json::from_str::<Value>(&json).expect("params JSON is valid JSON");
    let again = parse_rest(&p.generate());
    assert!(again.width >= 0);
}

proptest! {
    // Failures are kept as explicit cases in `regressions` rather than in a persistence file.
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn generate_then_parse_is_identity(p in canonical_params()) {
        let path = p.generate();
        prop_assert_eq!(&path, &p.to_string());

        let expected = Params { path: path.clone(), ..p };
        prop_assert_eq!(&parse_rest(&path), &expected);

        let unsafe_url = format!("/unsafe/{path}");
        prop_assert_eq!(parse(&unsafe_url), Params { is_unsafe: true, ..expected.clone() });

        let signer = Signer::new("secret").algorithm(SignerAlgorithm::Sha256);
        let signed = parse(&signer.sign_url(&path));
        prop_assert!(signer.verify(&signed.path, &signed.hash));
        prop_assert_eq!(signed, Params { hash: signer.sign(&path), ..expected });
    }

    #[test]
    fn parse_never_panics_on_any_string(s in any::<String>()) {
        check_invariants(&parse(&s));
        check_invariants(&parse_rest(&s));
        let _ = query_unescape(&s);
    }

    #[test]
    fn parse_never_panics_on_path_like_text(s in path_like()) {
        let p = parse(&s);
        check_invariants(&p);
        check_invariants(&parse_rest(&s));
        if let Some(decoded) = query_unescape(&s) {
            check_invariants(&parse(&decoded));
        }
    }

    #[test]
    fn split_args_pieces_rejoin(s in "[a-z(),]{0,20}") {
        let pieces = split_args(&s);
        let joined = pieces.join(",");
        // Only a single trailing comma can be lost.
        prop_assert!(joined == s || format!("{joined},") == s, "{:?} -> {:?}", s, pieces);
    }
}

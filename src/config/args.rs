//! Command-line parsing with the rules of Go's `flag` package.
//!
//! * `-name value`, `-name=value`, and the same with `--`;
//! * booleans as a bare `-name` (true) or `-name=value`; `-name false` is *not* a boolean
//!   value (Go would stop parsing there; this parser reports the stray `false` instead);
//! * a lone `--` ends the flags;
//! * `-h`, `-help`, `--help` ask for help; any other unknown flag is an error.
//!
//! # Example
//!
//! ```
//! use imagor_tower::config::ConfigBuilder;
//!
//! let config = ConfigBuilder::new()
//!     .args(["-port", "9000", "--imagor-unsafe", "-imagor-secret=abc"])
//!     .build()
//!     .unwrap();
//! assert_eq!(config.server.port, 9000);
//! assert!(config.imagor.allow_unsafe);
//! assert_eq!(config.imagor.secret.expose(), "abc");
//! ```

use super::{ConfigError, ConfigKey, ValueKind};

/// Parses the arguments (without the program name) into option values, in order; a later
/// value for the same option wins when they are applied.
pub(crate) fn parse(args: &[String]) -> Result<Vec<(ConfigKey, String)>, ConfigError> {
    let mut values = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let Some(flag) = flag_text(arg) else {
            return Err(ConfigError::UnexpectedArgument { arg: arg.clone() });
        };
        if flag.is_empty() {
            // A lone `--` ends the flags; anything after it is a positional argument.
            if let Some(extra) = rest.next() {
                return Err(ConfigError::UnexpectedArgument { arg: extra.clone() });
            }
            break;
        }
        if flag.starts_with('-') || flag.starts_with('=') {
            return Err(ConfigError::BadFlagSyntax { arg: arg.clone() });
        }
        let (name, inline_value) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (flag, None),
        };
        let Some(key) = ConfigKey::from_flag_name(name) else {
            if name == "h" || name == "help" {
                return Err(ConfigError::HelpRequested);
            }
            return Err(ConfigError::UnknownFlag {
                flag: format!("-{name}"),
            });
        };
        let value = match (inline_value, key.kind()) {
            (Some(value), _) => value.to_owned(),
            (None, ValueKind::Bool) => "true".to_owned(),
            (None, _) => match rest.next() {
                Some(next) => next.clone(),
                None => {
                    return Err(ConfigError::MissingArgument {
                        flag: format!("-{name}"),
                    });
                }
            },
        };
        values.push((key, value));
    }
    Ok(values)
}

/// The text after one or two leading dashes, or `None` for a positional argument
/// (which includes a lone `-`). A lone `--` gives `Some("")`.
fn flag_text(arg: &str) -> Option<&str> {
    if arg == "--" {
        return Some("");
    }
    if arg.len() < 2 {
        return None;
    }
    let after_one = arg.strip_prefix('-')?;
    Some(after_one.strip_prefix('-').unwrap_or(after_one))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Vec<(ConfigKey, String)>, ConfigError> {
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        parse(&args)
    }

    fn ok(args: &[&str]) -> Vec<(ConfigKey, String)> {
        run(args).unwrap()
    }

    #[test]
    fn value_forms() {
        assert_eq!(
            ok(&["-port", "1", "--port", "2", "-port=3", "--port=4"]),
            [
                (ConfigKey::Port, "1".to_owned()),
                (ConfigKey::Port, "2".to_owned()),
                (ConfigKey::Port, "3".to_owned()),
                (ConfigKey::Port, "4".to_owned()),
            ]
        );
    }

    #[test]
    fn value_may_start_with_a_dash_or_contain_equals() {
        assert_eq!(
            ok(&[
                "-imagor-process-concurrency",
                "-1",
                "-imagor-base-params=a=b"
            ]),
            [
                (ConfigKey::ImagorProcessConcurrency, "-1".to_owned()),
                (ConfigKey::ImagorBaseParams, "a=b".to_owned()),
            ]
        );
        assert_eq!(ok(&["-bind="]), [(ConfigKey::Bind, String::new())]);
    }

    #[test]
    fn booleans_are_bare_or_inline() {
        assert_eq!(
            ok(&["-debug", "--imagor-unsafe=false"]),
            [
                (ConfigKey::Debug, "true".to_owned()),
                (ConfigKey::ImagorUnsafe, "false".to_owned()),
            ]
        );
        let err = run(&["-debug", "false"]).unwrap_err();
        assert!(
            matches!(&err, ConfigError::UnexpectedArgument { arg } if arg == "false"),
            "{err}"
        );
    }

    #[test]
    fn double_dash_ends_flags() {
        assert_eq!(
            ok(&["-debug", "--"]),
            [(ConfigKey::Debug, "true".to_owned())]
        );
        assert!(matches!(
            run(&["--", "-port"]),
            Err(ConfigError::UnexpectedArgument { .. })
        ));
    }

    #[test]
    fn errors() {
        let err = run(&["-imagor-sercet", "x"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "flag provided but not defined: -imagor-sercet"
        );
        let err = run(&["--nope=1"]).unwrap_err();
        assert_eq!(err.to_string(), "flag provided but not defined: -nope");
        let err = run(&["-port"]).unwrap_err();
        assert_eq!(err.to_string(), "flag needs an argument: -port");
        assert!(matches!(
            run(&["---port", "1"]),
            Err(ConfigError::BadFlagSyntax { .. })
        ));
        assert!(matches!(
            run(&["-=1"]),
            Err(ConfigError::BadFlagSyntax { .. })
        ));
        assert!(matches!(
            run(&["-"]),
            Err(ConfigError::UnexpectedArgument { .. })
        ));
        assert!(matches!(
            run(&["serve"]),
            Err(ConfigError::UnexpectedArgument { .. })
        ));
        // Env-var spelling is not a flag.
        assert!(matches!(
            run(&["-PORT", "1"]),
            Err(ConfigError::UnknownFlag { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_arguments_never_panic(args in proptest::collection::vec("\\PC{0,12}", 0..6)) {
            let _ = parse(&args);
        }
    }

    #[test]
    fn help_flags() {
        for help in ["-h", "-help", "--help", "--h"] {
            assert!(
                matches!(run(&[help]), Err(ConfigError::HelpRequested)),
                "{help}"
            );
        }
        assert!(matches!(
            run(&["-port", "1", "-help"]),
            Err(ConfigError::HelpRequested)
        ));
    }
}

//! glibc's malloc tuned for an image server: one arena instead of one per busy thread.
//!
//! glibc gives each thread that finds the main arena locked an arena of its own, up to eight
//! per core. The large buffers a pixel thread frees (decoded images, coefficients) then stay
//! cached in that thread's arena while another thread asks the kernel for new ones. Over the
//! benchmark mix at 8 connections the server peaked at 216 MB with the default arenas and at
//! 150 MB with one, at the same throughput (see docs/performance.md); the image work runs on a
//! few pixel threads that allocate seldom and in large blocks, so the single lock is not
//! contended.
//!
//! glibc reads `MALLOC_ARENA_MAX` only when a process starts, so [`tune`] starts the server
//! again, once, with it set to 1. An operator who sets `MALLOC_ARENA_MAX` or `GLIBC_TUNABLES`
//! keeps their own setting. Other platforms and C libraries are left alone. The library
//! itself never touches the allocator: that is the host's choice.

use std::ffi::OsString;

/// The `MALLOC_ARENA_MAX` value to start the server again with, when the environment (read
/// through `var`) sets none of the operator's own.
pub(crate) fn arena_setting(var: impl Fn(&str) -> Option<OsString>) -> Option<&'static str> {
    let chosen = var("MALLOC_ARENA_MAX").is_some() || var("GLIBC_TUNABLES").is_some();
    (!chosen).then_some("1")
}

/// Replaces this process by itself with [`arena_setting`] in its environment (Linux with
/// glibc); returns only when there is nothing to do or the restart failed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn tune() {
    use std::os::unix::process::CommandExt;

    let Some(value) = arena_setting(|name| std::env::var_os(name)) else {
        return;
    };
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    // `exec` returns only on failure; the server then runs with glibc's defaults.
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("MALLOC_ARENA_MAX", value)
        .exec();
    eprintln!("imagor-tower: could not restart with MALLOC_ARENA_MAX={value} ({err})");
}

/// Other platforms: nothing to tune.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn tune() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_arena_unless_the_operator_chose() {
        assert_eq!(arena_setting(|_| None), Some("1"));
        let set =
            |wanted: &'static str| move |name: &str| (name == wanted).then(|| OsString::from("4"));
        assert_eq!(arena_setting(set("MALLOC_ARENA_MAX")), None);
        assert_eq!(arena_setting(set("GLIBC_TUNABLES")), None);
        assert_eq!(arena_setting(set("SOMETHING_ELSE")), Some("1"));
    }
}

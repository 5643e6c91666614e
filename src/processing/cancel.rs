//! [`Cancel`]: a token that stops a running [`process`](super::process) call.
//!
//! The engine's heavy loops (decoding animation frames and PNG rows, resampling in bands,
//! blur and sharpen rows, colour adjustments, compositing, text, trim, `smart`, encoding
//! animation frames, the GIF quantiser) look at the token every fraction of a millisecond of work, through a
//! [`Meter`] that counts work units and reads the flag once per [`Meter::BUDGET`] units. A
//! cancelled job stops at the next check and returns [`ProcessError::Cancelled`], dropping its
//! buffers on the way out. Encoders and decoders that run as one opaque call (JPEG, AVIF,
//! still WebP, GIF's LZW compression) are checked just before and after that call.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path;
//! use imagor_tower::processing::{Cancel, Options, ProcessError, process_color};
//!
//! let token = Cancel::new();
//! let options = Options::default().cancel(token.clone());
//! // Another thread (a timeout, a disconnected client) gives up on the request.
//! let watcher = {
//!     let token = token.clone();
//!     std::thread::spawn(move || token.cancel())
//! };
//! watcher.join().unwrap();
//! assert!(token.is_cancelled());
//!
//! let params = path::parse("unsafe/2000x2000/filters:blur(40)/color:red");
//! let err = process_color(&params, &options).unwrap_err();
//! assert!(matches!(err, ProcessError::Cancelled));
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::error::ProcessError;

/// A cancel token for one pixel job: cheap to clone (one shared flag), settable from any
/// thread, and never reset.
///
/// Give it to the engine with [`Options::cancel`](super::Options::cancel); call
/// [`Cancel::cancel`] when nobody wants the result any more. The engine then returns
/// [`ProcessError::Cancelled`] within about a millisecond of work from the running step (see
/// the [module docs](self) for the steps that can only stop between calls).
///
/// ```
/// use imagor_tower::processing::Cancel;
///
/// let token = Cancel::new();
/// let copy = token.clone();
/// assert!(!copy.is_cancelled());
/// token.cancel();
/// assert!(copy.is_cancelled());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Cancel {
    flag: Arc<AtomicBool>,
}

impl Cancel {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every job holding this token (or a clone of it). Idempotent.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }

    /// Whether [`Cancel::cancel`] has been called on this token or a clone of it.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once the token is cancelled.
    pub(crate) fn check(&self) -> Result<(), ProcessError> {
        if self.is_cancelled() {
            Err(ProcessError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// A [`Meter`] that checks this token every [`Meter::BUDGET`] units of work.
    pub(crate) fn meter(&self) -> Meter<'_> {
        Meter {
            cancel: self,
            done: 0,
        }
    }
}

/// Counts work and checks a [`Cancel`] token once per [`Meter::BUDGET`] units, so that
/// loops of very different step costs (a row of 3 taps, a row of 10,000 taps) check about
/// equally often.
///
/// A unit is one multiply-add or one sample written: about a nanosecond, so a check happens
/// every fraction of a millisecond, and the check (one relaxed atomic load) is lost in the
/// work between two of them.
#[derive(Debug)]
pub(crate) struct Meter<'a> {
    cancel: &'a Cancel,
    done: u64,
}

impl Meter<'_> {
    /// Work units between two checks.
    pub(crate) const BUDGET: u64 = 1 << 18;

    /// Counts `units` of work done; checks the token when the budget is used up.
    pub(crate) fn tick(&mut self, units: usize) -> Result<(), ProcessError> {
        self.done = self
            .done
            .saturating_add(u64::try_from(units).unwrap_or(u64::MAX));
        if self.done >= Self::BUDGET {
            self.done = 0;
            self.cancel.check()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_flag() {
        let token = Cancel::new();
        let copy = token.clone();
        assert!(copy.check().is_ok());
        token.cancel();
        token.cancel();
        assert!(copy.is_cancelled());
        assert!(matches!(copy.check(), Err(ProcessError::Cancelled)));
        // A new token is independent.
        assert!(!Cancel::new().is_cancelled());
    }

    #[test]
    fn meter_checks_once_per_budget() {
        let token = Cancel::new();
        token.cancel();
        let mut meter = token.meter();
        let step = usize::try_from(Meter::BUDGET / 4).expect("fits");
        // Below the budget the flag is not read.
        for _ in 0..3 {
            assert!(meter.tick(step).is_ok());
        }
        assert!(matches!(meter.tick(step), Err(ProcessError::Cancelled)));
        // One huge step checks at once.
        let mut meter = token.meter();
        assert!(matches!(
            meter.tick(usize::MAX),
            Err(ProcessError::Cancelled)
        ));
        // Not cancelled: never fails.
        let live = Cancel::new();
        let mut meter = live.meter();
        for _ in 0..100 {
            assert!(meter.tick(step).is_ok());
        }
    }
}

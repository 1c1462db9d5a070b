//! Unwrap a lockstep step with its report (which carries the field diff),
//! for the tests that score the core against the reference model.
use holdback_sim::refmodel::lockstep::LockstepError;

pub trait OrPanic<T> {
    fn or_panic(self, what: &str) -> T;
}

impl<T> OrPanic<T> for Result<T, LockstepError> {
    fn or_panic(self, what: &str) -> T {
        self.unwrap_or_else(|e| panic!("{what}: {e}"))
    }
}

//! Configuration that SIGHUP can replace: readers take a snapshot, a reload swaps it whole.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;

/// A value read lock-free by sessions and replaced atomically on reload. A session keeps the
/// snapshot it loaded, so one connection never sees half of an old and half of a new config.
pub struct Reloadable<T> {
    current: ArcSwap<T>,
}

impl<T> Reloadable<T> {
    pub fn new(value: T) -> Self {
        Reloadable {
            current: ArcSwap::from_pointee(value),
        }
    }

    /// The current value; later reloads do not change the returned snapshot.
    pub fn load(&self) -> Arc<T> {
        self.current.load_full()
    }

    pub fn replace(&self, value: T) {
        self.current.store(Arc::new(value));
    }

    /// Builds a new value with `f` and swaps it in; on error the running value stays. Both
    /// outcomes are logged, the error with the reason.
    pub fn reload_with<E: fmt::Display>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<(), E> {
        match f() {
            Ok(value) => {
                self.replace(value);
                tracing::info!("configuration reloaded");
                Ok(())
            }
            Err(e) => {
                tracing::error!("reload failed, keeping the running configuration: {e}");
                Err(e)
            }
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Reloadable<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reloadable")
            .field("current", &*self.current.load())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_reload_keeps_the_old_value() {
        let config = Reloadable::new(1);
        let before = config.load();
        assert_eq!(
            config.reload_with(|| Err::<i32, _>("bad key")),
            Err("bad key")
        );
        assert_eq!(*config.load(), 1);
        assert_eq!(config.reload_with(|| Ok::<_, String>(2)), Ok(()));
        assert_eq!(*config.load(), 2);
        assert_eq!(
            *before, 1,
            "a snapshot taken before the reload does not change"
        );
        config.replace(3);
        assert_eq!(*config.load(), 3);
        assert_eq!(format!("{config:?}"), "Reloadable { current: 3 }");
    }
}

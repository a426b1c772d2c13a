//! Logging set-up. Logs go to stderr so stdout stays free for the address lines scripts read;
//! `RUST_LOG` picks the level (default `info`). Each request runs in a span (`capture{…}` or
//! `inspector{…}`), so every line logged while handling it names it.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
pub fn init() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in files and pipes.
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// For tests (as zero2prod does): with `TEST_LOG` set, the servers a test starts log into the
/// test's captured output, which cargo shows when the test fails; without it, silence.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_test_writer()
            .try_init();
    }
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

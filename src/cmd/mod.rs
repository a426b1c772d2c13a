//! What each subcommand does, one file each (as mini-redis's `cmd/`), called by `main` after
//! parsing. Handlers here are thin: they turn flags into a configuration, call the library,
//! and print. Everything printed that came from a captured request goes through
//! [`terminal_safe`].

mod demo;
mod export;
mod replay;
mod requests;
mod reservation;
mod restore;
mod serve;
mod sim;

use std::io::Write;

pub use demo::demo;
pub use export::export;
pub use replay::replay;
pub use requests::requests;
pub use reservation::{Decision, reservation};
pub use restore::restore;
pub use serve::serve;
pub use sim::sim;

/// Prints the address lines scripts read. Best effort: a script that reads the first line and
/// closes the pipe must not take the server down with a broken-pipe error.
fn announce(lines: &[String]) {
    let mut out = std::io::stdout().lock();
    for line in lines {
        if let Err(err) = writeln!(out, "{line}").and_then(|()| out.flush()) {
            tracing::warn!(error = %err, "cannot print to stdout; carrying on");
            return;
        }
    }
}

/// Captured text is attacker-controlled: control characters (ANSI escapes, carriage returns)
/// and bidi overrides ("Trojan Source") are escaped so they can neither drive the terminal nor
/// reorder what it shows. The same escaper as the inspector's pages.
fn terminal_safe(text: &str) -> String {
    crate::inspector::view::visible(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_escaped_for_the_terminal() {
        assert_eq!(terminal_safe("a\u{1b}[31mb\r"), "a\\u{1b}[31mb\\u{d}");
        // A right-to-left override would show "/assignment" reversed in the terminal.
        assert_eq!(
            terminal_safe("/a\u{202e}tnemngissa"),
            "/a\\u{202e}tnemngissa"
        );
        assert_eq!(terminal_safe("task.created"), "task.created");
    }
}

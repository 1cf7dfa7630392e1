//! `mtl-inspect`: the command-line front end. Parsing and checking flags,
//! and writing bytes where the user asked, live in `cli`; everything else is
//! the library.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {:#}", f.error);
            ExitCode::from(f.code)
        }
    }
}

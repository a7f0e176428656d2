//! `gridwarden`: the command-line field client. All logic is in the library.

fn main() {
    std::process::exit(gridwarden_cli::run(std::env::args_os()));
}

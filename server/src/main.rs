fn main() {
    std::process::exit(gridwarden_server::cli::main());
}

//! uniffi's code generator, built from the same uniffi version as the
//! library so the generated sources always match its scaffolding. Run by
//! `generate.sh`; needs `--features bindgen`.

fn main() {
    uniffi::uniffi_bindgen_main()
}

//! uniffi's bindgen, kept in its own crate so that clap and the generators never reach the apps' link.

fn main() {
    uniffi::uniffi_bindgen_main()
}

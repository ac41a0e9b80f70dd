//! The uniffi binding generator, pinned to the uniffi version the library uses.

fn main() {
    uniffi::uniffi_bindgen_main()
}

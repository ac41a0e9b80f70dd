//! The `ferrowg` binary.

fn main() {
    eprintln!("ferrowg: not built yet");
    std::process::exit(1);
}

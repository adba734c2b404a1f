//! Rebuild when the web console's files change: they are compiled into the binary
//! (`http::ui`), and a file added to the folder is not one the compiler already tracks.
fn main() {
    println!("cargo:rerun-if-changed=../frontend/app");
}

//! `sqlx::migrate!` embeds the migration files at compile time but, on stable
//! Rust, cannot tell Cargo to rebuild when one is added: this does.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}

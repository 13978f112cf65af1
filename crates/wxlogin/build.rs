// Re-embed migrations when a .sql file is added or changed.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}

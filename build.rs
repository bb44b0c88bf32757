//! Rebuilds when a migration is added or changed: `embed_migrations!` reads the folders at
//! compile time, and cargo would not otherwise notice a new one
//! (<https://docs.rs/diesel_migrations/latest/diesel_migrations/macro.embed_migrations.html>).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}

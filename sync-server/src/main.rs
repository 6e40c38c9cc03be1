//! `gridpatrol-server`: see the crate docs and `gridpatrol-server --help`.

// glibc malloc fragmented badly when syncing many small documents (DESIGN.md: 2.2-3.4 GB vs 419 MB).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    gridpatrol_server::cli::run()
}

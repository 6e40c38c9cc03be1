//! `gridpatrol-server`: see the crate docs and `gridpatrol-server --help`.

// glibc malloc fragmented badly when syncing many small documents: measured for the original design,
// 2.2-3.4 GB resident against 419 MB with mimalloc (server RSS figures in BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    gridpatrol_server::cli::run()
}

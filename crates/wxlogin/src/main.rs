//! The `wxlogin` binary: all of it lives in the library's `cli` module.

// Every request allocates a little (headers, JSON, spans); mimalloc serves that
// with fewer cycles than glibc's malloc (bench/RESULTS.md has the numbers).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    wxlogin::cli::main()
}

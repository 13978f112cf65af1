//! The `wxlogin` binary: all of it lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    wxlogin::cli::main()
}

//! The service through HTTP, against the simulator over real HTTP and a real
//! SQLite file: one test binary, modules by feature.

mod helpers;
mod login;
mod login_errors;
mod secrets;
mod sessions;
mod user_data;

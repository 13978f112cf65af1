//! The service through HTTP, against the simulator over real HTTP and a real
//! SQLite file: one test binary, modules by feature.

mod abuse;
mod authz;
mod bad_input;
mod connections;
mod faults;
mod helpers;
mod jwt;
mod login;
mod login_errors;
mod logs;
mod multi_instance;
mod platforms;
mod process;
mod rekey;
mod secrets;
mod sessions;
#[path = "../support/mod.rs"]
mod support;
mod upgrade;
mod user_data;
mod users;
mod verify_cache;

//! The gridwarden sync server: a QUIC edge (`net`), the decisions it serves
//! (`service`), storage behind a trait (`store`), and the admin command line.

pub mod admin;
pub mod authz;
pub mod cli;
pub mod config;
pub mod console;
pub mod datadir;
pub mod grid;
pub mod http;
pub mod metrics;
pub mod net;
pub mod photos;
pub mod service;
pub mod store;
pub mod tls;

pub use config::Config;
pub use datadir::DataDir;
pub use net::{EdgeConfig, RunningServer};
pub use service::{Limits, Service};

/// Where `serve` listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4433";
/// Where the console's HTTP listener listens unless told otherwise.
pub const DEFAULT_HTTP: &str = "127.0.0.1:8080";
pub(crate) const PUBLIC_ADDR_KEY: &str = "public_addr";
pub(crate) const LISTEN_ADDR_KEY: &str = "listen_addr";
/// Meta key of the console URL `serve` printed, for `console link`.
pub(crate) const CONSOLE_URL_KEY: &str = "console_url";

//! The gridwarden sync server: a QUIC edge (`net`), the decisions it serves
//! (`service`), storage behind a trait (`store`), and the admin command line.

pub mod admin;
pub mod authz;
pub mod cli;
pub mod config;
pub mod datadir;
pub mod grid;
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
pub(crate) const PUBLIC_ADDR_KEY: &str = "public_addr";
pub(crate) const LISTEN_ADDR_KEY: &str = "listen_addr";

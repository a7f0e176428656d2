//! The supervisor console's decisions, free of HTTP: sign-in and sessions
//! (`auth`), the case queue (`queue`), a case's panel and steps (`cases`),
//! reference data and the map (`reference`), patrols, KPIs and alerts. The
//! HTTP edge (`crate::http::console`) maps requests onto these and their
//! errors onto statuses; everything here goes through the same [`Service`],
//! `authz` rules and case state machine as a device's requests.

use std::sync::{Arc, Mutex};

use crate::config::ConsoleSection;
use crate::service::{Service, Session};

pub mod alerts;
pub mod auth;
pub mod cases;
pub mod kpi;
pub mod patrols;

pub mod queue;
pub mod reference;
pub mod time;

pub use auth::ConsoleUser;

/// What the console's handlers share.
pub struct Console {
    pub service: Arc<Service>,
    pub config: ConsoleSection,
    /// Whether cookies must be `Secure` (served over TLS).
    pub tls: bool,
    index: Mutex<queue::CaseIndex>,
    limiter: auth::SignInLimiter,
}

impl Console {
    pub fn new(service: Arc<Service>, config: ConsoleSection, tls: bool) -> Self {
        let limiter = auth::SignInLimiter::new(config.signin_burst, config.signin_per_minute);
        Self {
            service,
            config,
            tls,
            index: Mutex::new(queue::CaseIndex::default()),
            limiter,
        }
    }
}

impl ConsoleUser {
    /// The user as the service sees a device's session.
    pub fn session(&self) -> &Session {
        &self.session
    }
}

//! What users read when the store reports something missing or clashing.
//! The store names the thing ([`Missing`], [`Clash`]); the sentences, with
//! the command that helps, are the service's, the same for every backend.

use std::fmt;

use crate::store::{Clash, Missing};

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::User(name) => write!(
                f,
                "no user named `{name}`; see `gridwarden-server users list` (or add it with `users add` first)"
            ),
            Missing::Device(id) => write!(
                f,
                "no device with id {id}; see `gridwarden-server devices list`"
            ),
            Missing::ApiKey(name) => write!(
                f,
                "no API key named `{name}`; see `gridwarden-server apikeys list`"
            ),
            Missing::Department(code) => write!(
                f,
                "no department with code `{code}`; see `gridwarden-server departments list`"
            ),
            Missing::RouteTarget {
                category,
                department,
            } => write!(
                f,
                "category {category} is routed to department `{department}`, which does not exist; add it with `departments add`"
            ),
        }
    }
}

impl fmt::Display for Clash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Clash::User(name) => write!(f, "a user named `{name}` already exists"),
            Clash::ApiKey(name) => write!(
                f,
                "an API key named `{name}` exists already; revoke it and pick a new name to replace it"
            ),
            Clash::Department(code) => {
                write!(f, "a department with code `{code}` already exists")
            }
            Clash::Feedback(_) => write!(f, "this request was rated already; a rating is given once"),
            Clash::GridCode(code) => write!(
                f,
                "code {code:?} appears twice in the layer, or its cell content was not stored first"
            ),
        }
    }
}

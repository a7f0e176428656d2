//! Console sign-in: passwords (argon2), one-time links printed by IT, and
//! sessions kept in the store so a disabled user is out at once. Only
//! supervisors and admins may sign in.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use gridwarden_protocol::enrolment::hex;
use gridwarden_protocol::{ErrorCode, Role};

use super::Console;
use crate::service::{Service, ServiceError, ServiceResult, Session};
use crate::store::{AuditRecord, ConsoleSession, User};

/// How long a printed sign-in link stays valid.
pub const LINK_TTL_MS: i64 = 15 * 60 * 1000;
/// Shortest password `users passwd` accepts.
pub const MIN_PASSWORD_CHARS: usize = 10;
const MAX_PASSWORD_BYTES: usize = 1024;

/// A signed-in console user: their session as the service knows a device's
/// (the console device, the user's role and district), and the CSRF value.
#[derive(Clone, Debug)]
pub struct ConsoleUser {
    pub(super) session: Session,
    pub csrf: String,
    pub token_hash: [u8; 32],
}

impl ConsoleUser {
    pub fn name(&self) -> &str {
        &self.session.user
    }

    pub fn role(&self) -> Role {
        self.session.role
    }

    /// The district's cells; empty for the whole city.
    pub fn cells(&self) -> &[String] {
        &self.session.cells
    }
}

fn refused(code: ErrorCode, message: impl Into<String>) -> ServiceError {
    ServiceError::Refused {
        code,
        message: message.into(),
    }
}

fn wrong_credentials() -> ServiceError {
    refused(ErrorCode::Unauthenticated, "wrong user name or password")
}

fn may_sign_in(user: &User) -> ServiceResult<()> {
    if !user.role.sees_everything() {
        return Err(refused(
            ErrorCode::Forbidden,
            format!(
                "{} is a {}; the console is for supervisors and admins — use the app",
                user.name, user.role
            ),
        ));
    }
    Ok(())
}

fn hash32(bytes: &[u8]) -> [u8; 32] {
    *blake3::hash(bytes).as_bytes()
}

/// The hash of a token as the store keeps it; `None` for something that
/// cannot be one of ours (wrong length or not hex).
pub fn token_hash(token: &str) -> Option<[u8; 32]> {
    (token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hash32(token.to_ascii_lowercase().as_bytes()))
}

fn new_token() -> String {
    hex(&rand::random::<[u8; 32]>())
}

/// Hashes a password for storage (argon2id, the crate's default cost).
pub fn hash_password(password: &str) -> ServiceResult<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| {
            refused(
                ErrorCode::Internal,
                format!("hashing the password failed: {e}"),
            )
        })
}

fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash of nothing anybody knows, verified against when the user has no
/// password, so a wrong name costs as long as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&new_token()).unwrap_or_default())
}

/// Sets `name`'s console password (`gridwarden-server users passwd`).
pub fn set_password(
    service: &Service,
    name: &str,
    password: &str,
    actor: &str,
) -> ServiceResult<()> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(refused(
            ErrorCode::InvalidInput,
            format!("a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_BYTES} characters; this one has {chars}"),
        ));
    }
    let user = service.store().user(name)?.ok_or_else(|| {
        refused(
            ErrorCode::NotFound,
            format!("no user named `{name}`; see `users list`"),
        )
    })?;
    may_sign_in(&user)?;
    let hash = hash_password(password)?;
    service.store().set_password_hash(
        name,
        &hash,
        &AuditRecord {
            at_ms: service.now(),
            actor: actor.to_owned(),
            device: None,
            action: "user.passwd".into(),
            subject: name.to_owned(),
            detail: "console password set; open sessions ended".into(),
        },
    )?;
    Ok(())
}

/// A one-time sign-in token for `user`, valid [`LINK_TTL_MS`].
pub fn new_link(service: &Service, user: &str, actor: &str) -> ServiceResult<String> {
    let found = service.store().user(user)?.ok_or_else(|| {
        refused(
            ErrorCode::NotFound,
            format!("no user named `{user}`; see `users list`"),
        )
    })?;
    may_sign_in(&found)?;
    if found.disabled {
        return Err(refused(
            ErrorCode::Forbidden,
            format!("user `{user}` is disabled"),
        ));
    }
    let token = new_token();
    let now = service.now();
    service.store().create_console_link(
        hash32(token.as_bytes()),
        user,
        now + LINK_TTL_MS,
        &AuditRecord {
            at_ms: now,
            actor: actor.to_owned(),
            device: None,
            action: "console.link".into(),
            subject: user.to_owned(),
            detail: "one-time sign-in link, 15 minutes".into(),
        },
    )?;
    Ok(token)
}

/// Token buckets per user name and per remote address; in memory (a
/// restart only lets someone through sooner). Monotonic time: a bucket
/// measures intervals, not wall-clock moments.
pub struct SignInLimiter {
    burst: f64,
    per_second: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl SignInLimiter {
    pub fn new(burst: u32, per_minute: u32) -> Self {
        Self {
            burst: f64::from(burst),
            per_second: f64::from(per_minute) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn take(&self, key: String) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            // Full buckets carry no information: forget them.
            let (burst, rate) = (self.burst, self.per_second);
            buckets.retain(|_, (t, last)| {
                *t + now.saturating_duration_since(*last).as_secs_f64() * rate < burst
            });
        }
        let (tokens, last) = buckets.entry(key).or_insert((self.burst, now));
        *tokens = (*tokens + now.saturating_duration_since(*last).as_secs_f64() * self.per_second)
            .min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.per_second))
        }
    }

    /// One attempt for `name` from `address`.
    pub fn attempt(&self, name: &str, address: &str) -> ServiceResult<()> {
        let by_name = self.take(format!("user:{name}"));
        let by_address = self.take(format!("addr:{address}"));
        match by_name.and(by_address) {
            Ok(()) => Ok(()),
            Err(wait) => Err(refused(
                ErrorCode::RateLimited,
                format!(
                    "too many sign-in attempts; try again in {} s",
                    wait.as_secs().max(1)
                ),
            )),
        }
    }
}

impl Console {
    /// Signs in with a name and password: a new session and its cookie token.
    pub fn sign_in(
        &self,
        name: &str,
        password: &str,
        address: &str,
    ) -> ServiceResult<(String, ConsoleUser)> {
        self.limiter.attempt(name, address)?;
        let store = self.service.store();
        let user = store.user(name)?;
        let stored = match &user {
            Some(u) => store.password_hash(&u.name)?,
            None => None,
        };
        let ok = verify_password(password, stored.as_deref().unwrap_or(dummy_hash()));
        let (Some(user), true) = (user, ok && stored.is_some()) else {
            self.audit(
                name,
                None,
                "console.signin_failed",
                name,
                format!("from {address}"),
            )?;
            return Err(wrong_credentials());
        };
        if user.disabled {
            return Err(refused(
                ErrorCode::Unauthenticated,
                format!("user `{}` is disabled; ask IT", user.name),
            ));
        }
        may_sign_in(&user)?;
        self.open_session(&user, &format!("password, from {address}"))
    }

    /// Signs in with a one-time link's token.
    pub fn sign_in_link(&self, token: &str, address: &str) -> ServiceResult<(String, ConsoleUser)> {
        let forged = || {
            refused(
                ErrorCode::Unauthenticated,
                "this sign-in link is not known to the server; ask IT for a new one",
            )
        };
        let hash = token_hash(token).ok_or_else(forged)?;
        let now = self.service.now();
        // Checked and used in one unit of work: a link signs in once.
        let name = crate::store::write(self.service.store().as_ref(), |tx| {
            let Some(link) = tx.console_link(hash)? else {
                return Ok(Err(forged()));
            };
            if link.used_ms.is_some() {
                return Ok(Err(refused(
                    ErrorCode::Unauthenticated,
                    "this sign-in link was already used; each link signs in once — ask IT for a new one",
                )));
            }
            if now > link.expires_ms {
                return Ok(Err(refused(
                    ErrorCode::Unauthenticated,
                    "this sign-in link has expired (links last 15 minutes); ask IT for a new one",
                )));
            }
            tx.use_console_link(hash, now)?;
            Ok(Ok(link.user))
        })??;
        let user = self.active_user(&name)?;
        may_sign_in(&user)?;
        self.open_session(&user, &format!("one-time link, from {address}"))
    }

    fn active_user(&self, name: &str) -> ServiceResult<User> {
        let user = self.service.store().user(name)?.ok_or_else(|| {
            refused(
                ErrorCode::Unauthenticated,
                format!("user `{name}` no longer exists; ask IT"),
            )
        })?;
        if user.disabled {
            return Err(refused(
                ErrorCode::Unauthenticated,
                format!("user `{name}` is disabled; ask IT"),
            ));
        }
        Ok(user)
    }

    fn open_session(&self, user: &User, how: &str) -> ServiceResult<(String, ConsoleUser)> {
        let store = self.service.store();
        let now = self.service.now();
        let device = store.console_device(&user.name, now)?;
        let token = new_token();
        let stored = ConsoleSession {
            token_hash: hash32(token.as_bytes()),
            user: user.name.clone(),
            csrf: new_token(),
            device,
            created_ms: now,
            expires_ms: now + i64::from(self.config.session_hours) * 3_600_000,
        };
        store.create_console_session(
            &stored,
            &AuditRecord {
                at_ms: now,
                actor: user.name.clone(),
                device: Some(device),
                action: "console.signin".into(),
                subject: user.name.clone(),
                detail: how.to_owned(),
            },
        )?;
        let console_user = ConsoleUser {
            session: Session {
                device_id: device,
                user: user.name.clone(),
                role: user.role,
                cells: user.cells.clone(),
                // The console's own audit lines name the address.
                remote: None,
                seen_noted_ms: None,
            },
            csrf: stored.csrf,
            token_hash: stored.token_hash,
        };
        Ok((token, console_user))
    }

    /// The user a session cookie belongs to, checked afresh on every
    /// request: a disabled user, a revoked console device or an expired
    /// session is signed out at once.
    pub fn authenticate(&self, token: &str) -> ServiceResult<ConsoleUser> {
        let signed_out = || {
            refused(
                ErrorCode::Unauthenticated,
                "you are not signed in (or your session ended); sign in again",
            )
        };
        let hash = token_hash(token).ok_or_else(signed_out)?;
        let store = self.service.store();
        let stored = store.console_session(hash)?.ok_or_else(signed_out)?;
        if self.service.now() >= stored.expires_ms {
            return Err(signed_out());
        }
        let user = self.active_user(&stored.user).map_err(|_| signed_out())?;
        may_sign_in(&user).map_err(|_| signed_out())?;
        self.service
            .device_may_connect(stored.device)
            .map_err(|_| signed_out())?;
        Ok(ConsoleUser {
            session: Session {
                device_id: stored.device,
                user: user.name.clone(),
                role: user.role,
                cells: user.cells.clone(),
                // The console's own audit lines name the address.
                remote: None,
                seen_noted_ms: None,
            },
            csrf: stored.csrf,
            token_hash: hash,
        })
    }

    /// Whether a session is still good (the live updates ask on every tick).
    pub fn reauthenticate(&self, token_hash: [u8; 32]) -> ServiceResult<()> {
        let signed_out = || refused(ErrorCode::Unauthenticated, "your session ended");
        let stored = self
            .service
            .store()
            .console_session(token_hash)?
            .ok_or_else(signed_out)?;
        if self.service.now() >= stored.expires_ms {
            return Err(signed_out());
        }
        let user = self.active_user(&stored.user).map_err(|_| signed_out())?;
        may_sign_in(&user).map_err(|_| signed_out())?;
        Ok(())
    }

    pub fn sign_out(&self, user: &ConsoleUser) -> ServiceResult<()> {
        self.service.store().end_console_session(
            user.token_hash,
            &AuditRecord {
                at_ms: self.service.now(),
                actor: user.name().to_owned(),
                device: Some(user.session.device_id),
                action: "console.signout".into(),
                subject: user.name().to_owned(),
                detail: String::new(),
            },
        )?;
        Ok(())
    }

    /// Appends a console action to the audit log.
    pub fn audit(
        &self,
        actor: &str,
        device: Option<uuid::Uuid>,
        action: &str,
        subject: &str,
        detail: String,
    ) -> ServiceResult<()> {
        self.service.store().append_audit(&AuditRecord {
            at_ms: self.service.now(),
            actor: actor.to_owned(),
            device,
            action: action.to_owned(),
            subject: subject.to_owned(),
            detail,
        })?;
        Ok(())
    }
}

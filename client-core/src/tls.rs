//! Certificate pinning. The server's certificate is self-signed and its name
//! is a fixed label, so the usual web PKI checks mean nothing here; what the
//! device trusts is the exact certificate whose SHA-256 it learnt from the
//! enrolment code. The handshake signature is still verified, which proves the
//! server holds that certificate's private key.
//!
//! Rotation without re-enrolment: during a rollover the server sends its next
//! certificate as the second entry of its chain. A device that completes a
//! handshake with its pinned certificate stores that next fingerprint and
//! trusts it too; once the server switches, the device's first handshake with
//! the next certificate promotes it to the pin (docs/security.md).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::{ClientSessionMemoryCache, Resumption};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

/// SHA-256 of a DER certificate, the fingerprint enrolment codes carry.
pub fn fingerprint(cert_der: &[u8]) -> [u8; 32] {
    Sha256::digest(cert_der).into()
}

/// The certificates a device trusts: the one pinned at enrolment (or
/// promoted since) and, during a rotation, the server's announced next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pins {
    pub current: [u8; 32],
    pub next: Option<[u8; 32]>,
}

impl Pins {
    pub fn only(current: [u8; 32]) -> Self {
        Self {
            current,
            next: None,
        }
    }

    pub(crate) fn trusts(&self, fingerprint: [u8; 32]) -> bool {
        fingerprint == self.current || self.next == Some(fingerprint)
    }
}

/// What a server proved in a completed handshake: the certificate it holds
/// the key of, and the next certificate it announced (the second entry of
/// its chain, covered by the handshake signature like the first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Presented {
    pub certificate: [u8; 32],
    pub announced_next: Option<[u8; 32]>,
}

impl Presented {
    /// What a chain shows: its first certificate, and the next one the
    /// server announces as its second entry (ADR 0011), if another.
    pub(crate) fn of_chain(end_entity: &[u8], second: Option<&[u8]>) -> Self {
        let certificate = fingerprint(end_entity);
        let announced_next = second.map(fingerprint).filter(|next| *next != certificate);
        Self {
            certificate,
            announced_next,
        }
    }
}

/// Accepts only pinned certificates, by fingerprint, and remembers what it
/// was shown so a refusal can be reported as a mismatch rather than a vague
/// handshake failure, and an announced rotation can be stored.
#[derive(Debug)]
pub(crate) struct PinnedCertVerifier {
    pins: Pins,
    seen: Mutex<Option<Presented>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedCertVerifier {
    pub fn new(pins: Pins, provider: &CryptoProvider) -> Self {
        Self {
            pins,
            seen: Mutex::new(None),
            algorithms: provider.signature_verification_algorithms,
        }
    }

    fn seen(&self) -> Option<Presented> {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The fingerprint of the certificate the server presented, if it is
    /// not one this device trusts.
    pub fn mismatch(&self) -> Option<[u8; 32]> {
        self.seen()
            .map(|p| p.certificate)
            .filter(|s| !self.pins.trusts(*s))
    }

    /// What the server presented; meaningful once the handshake completed
    /// (its signature then covers the whole chain).
    pub fn presented(&self) -> Option<Presented> {
        self.seen().filter(|p| self.pins.trusts(p.certificate))
    }
}

impl ServerCertVerifier for PinnedCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // Name and validity period are deliberately ignored: the pin is the
        // whole trust decision, and a field device's clock may be wrong.
        let seen = Presented::of_chain(end_entity, intermediates.first().map(|c| c.as_ref()));
        let actual = seen.certificate;
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(seen);
        if self.pins.trusts(actual) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Only TLS 1.3 is offered (QUIC requires it); never accept 1.2.
        Err(rustls::Error::General("TLS 1.2 is not accepted".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The key a device shows in the handshake while it enrols (ECDSA P-256,
/// PKCS#8): the server derives the device's id from it and the code, so an
/// enrolment retried after a lost answer gets the same device, and someone
/// with only the code does not (server `service/enrolment.rs`).
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceKey {
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceKey(..)")
    }
}

impl DeviceKey {
    pub fn generate() -> Result<Self, rcgen::Error> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        Ok(Self {
            pkcs8: key.serialize_der(),
        })
    }

    pub fn from_pkcs8(pkcs8: Vec<u8>) -> Self {
        Self { pkcs8 }
    }

    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// A self-signed certificate for the key: only its public key matters
    /// to the server, so it is made anew for each connection.
    fn certified(&self) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), rcgen::Error> {
        let der = PrivatePkcs8KeyDer::from(self.pkcs8.clone());
        let key =
            rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_ECDSA_P256_SHA256)?;
        let cert = rcgen::CertificateParams::new(vec!["gridwarden-device".to_owned()])?
            .self_signed(&key)?;
        Ok((cert.der().clone(), PrivateKeyDer::Pkcs8(der)))
    }
}

/// TLS sessions of one server (its address and pins), kept for the life of
/// the process: a device that synced before resumes its session and sends
/// its first request in 0-RTT (ADR 0029). Every connection to that server
/// uses one client configuration, built once: rustls resumes a session only
/// under the very certificate verifier (and client-certificate resolver)
/// that made it, compared by pointer. Kept with them, what the server
/// presented at the last full handshake: a resumed handshake shows no
/// certificate, its trust comes from the session, which only a pinned
/// handshake made.
#[derive(Debug)]
pub(crate) struct Sessions {
    config: rustls::ClientConfig,
    verifier: Arc<PinnedCertVerifier>,
    presented: Mutex<Option<Presented>>,
    /// Connections whose first request the server took in 0-RTT: what
    /// tests and the benchmark read to tell a resumed sync from a fresh one.
    early_accepted: AtomicU64,
}

/// Each server's sessions, by address and pins.
type ByServer = HashMap<(String, [u8; 32], Option<[u8; 32]>), Arc<Sessions>>;

impl Sessions {
    /// Sessions kept per server: a server issues two tickets per
    /// connection, each used once.
    const PER_SERVER: usize = 4;

    /// The sessions of `server` while it is pinned to `pins` (a rotation
    /// announced or done makes other pins, and a fresh start).
    pub fn of(server: &str, pins: Pins) -> Result<Arc<Sessions>, rustls::Error> {
        static ALL: OnceLock<Mutex<ByServer>> = OnceLock::new();
        let mut all = ALL
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let key = (server.to_owned(), pins.current, pins.next);
        if let Some(sessions) = all.get(&key) {
            return Ok(sessions.clone());
        }
        let (mut config, verifier) = client_config(pins, None)?;
        config.resumption =
            Resumption::store(Arc::new(ClientSessionMemoryCache::new(Self::PER_SERVER)));
        config.enable_early_data = true;
        let sessions = Arc::new(Sessions {
            config,
            verifier,
            presented: Mutex::new(None),
            early_accepted: AtomicU64::new(0),
        });
        all.insert(key, sessions.clone());
        Ok(sessions)
    }

    /// The configuration of a connection to this server, and its verifier
    /// (shared by the server's connections: what it saw is the last full
    /// handshake's).
    pub fn client_config(&self) -> (rustls::ClientConfig, Arc<PinnedCertVerifier>) {
        (self.config.clone(), self.verifier.clone())
    }

    pub fn remember(&self, presented: Presented) {
        *self.presented.lock().unwrap_or_else(|p| p.into_inner()) = Some(presented);
    }

    pub fn presented(&self) -> Option<Presented> {
        *self.presented.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn count_early_accepted(&self) {
        self.early_accepted.fetch_add(1, Ordering::Relaxed);
    }

    pub fn early_accepted(&self) -> u64 {
        self.early_accepted.load(Ordering::Relaxed)
    }
}

/// A TLS 1.3 client configuration that trusts only `pins`, using the ring
/// provider built here (nothing is installed process-wide, so a host app's
/// own rustls setup is left alone); showing `key` when given one.
pub(crate) fn client_config(
    pins: Pins,
    key: Option<&DeviceKey>,
) -> Result<(rustls::ClientConfig, Arc<PinnedCertVerifier>), rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedCertVerifier::new(pins, &provider));
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone());
    let mut config = match key {
        None => builder.with_no_client_auth(),
        Some(key) => {
            let (cert, key) = key
                .certified()
                .map_err(|e| rustls::Error::General(format!("the device key: {e}")))?;
            builder.with_client_auth_cert(vec![cert], key)?
        }
    };
    config.alpn_protocols = vec![gridwarden_protocol::ALPN.to_vec()];
    // Resumption only where `Sessions` turns it on.
    config.resumption = Resumption::disabled();
    Ok((config, verifier))
}

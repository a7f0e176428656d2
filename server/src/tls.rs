//! The server's certificate. On first start a self-signed development
//! certificate is generated and persisted in the data directory, so enrolled
//! devices keep trusting it across restarts: they pin its SHA-256 fingerprint.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

pub mod device_key;

pub const CERT_FILE: &str = "server-cert.der";
pub const KEY_FILE: &str = "server-key.der";
/// During a rotation: the certificate devices learn to trust next.
pub const NEXT_CERT_FILE: &str = "server-cert.next.der";
pub const NEXT_KEY_FILE: &str = "server-key.next.der";
/// After a rotation: the certificate it replaced, kept to roll back by hand.
pub const PREVIOUS_CERT_FILE: &str = "server-cert.previous.der";
pub const PREVIOUS_KEY_FILE: &str = "server-key.previous.der";

pub struct Identity {
    pub cert: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
    /// The next certificate, while a rotation is under way: sent as the
    /// second entry of the chain so devices learn to trust it.
    pub next: Option<CertificateDer<'static>>,
}

impl Identity {
    /// SHA-256 of the certificate's DER bytes, as `openssl x509 -fingerprint -sha256` shows.
    pub fn fingerprint(&self) -> [u8; 32] {
        fingerprint(&self.cert)
    }

    pub fn next_fingerprint(&self) -> Option<[u8; 32]> {
        self.next.as_ref().map(|c| fingerprint(c))
    }

    /// The key QUIC stateless resets are made with, derived from the
    /// persisted private key: a restarted server can then tell a phone at
    /// once that its old connection is gone, instead of leaving it to wait
    /// for its idle timeout.
    pub fn stateless_reset_key(&self) -> ring::hmac::Key {
        let secret = blake3::derive_key(
            "gridwarden 2026 quic stateless reset key",
            self.key.secret_der(),
        );
        ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret)
    }

    /// Key of the connection-id generator, stable across restarts for the
    /// same reason as [`Identity::stateless_reset_key`].
    pub fn connection_id_key(&self) -> u64 {
        let secret = blake3::derive_key(
            "gridwarden 2026 quic connection id key",
            self.key.secret_der(),
        );
        u64::from_le_bytes(secret[..8].try_into().expect("32-byte key"))
    }
}

pub fn fingerprint(cert: &[u8]) -> [u8; 32] {
    Sha256::digest(cert).into()
}

/// Loads the certificate and key from `dir`, creating them if absent, and
/// the next certificate if a rotation is under way.
pub fn load_or_create(dir: &Path) -> anyhow::Result<Identity> {
    finish_interrupted_activation(dir)?;
    let cert_path = dir.join(CERT_FILE);
    let key_path = dir.join(KEY_FILE);
    let next = read_optional(&dir.join(NEXT_CERT_FILE))?.map(CertificateDer::from);
    if cert_path.exists() && key_path.exists() {
        let cert = std::fs::read(&cert_path)
            .with_context(|| format!("reading {}", cert_path.display()))?;
        let key =
            std::fs::read(&key_path).with_context(|| format!("reading {}", key_path.display()))?;
        return Ok(Identity {
            cert: CertificateDer::from(cert),
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
            next,
        });
    }
    let (cert, key) = generate()?;
    write_private(&key_path, &key)?;
    std::fs::write(&cert_path, &cert)
        .with_context(|| format!("writing {}", cert_path.display()))?;
    Ok(Identity {
        cert: CertificateDer::from(cert),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
        next: None,
    })
}

/// Reads the certificate and key already in `dir` (and the next
/// certificate), creating and repairing nothing: what a running server
/// reloads on SIGHUP. Refuses a key that does not go with the certificate,
/// and a certificate outside its validity at `now_ms`.
pub fn load_existing(dir: &Path, now_ms: i64) -> anyhow::Result<Identity> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
    };
    let cert = read(CERT_FILE)?;
    let key = read(KEY_FILE)?;
    let next = read_optional(&dir.join(NEXT_CERT_FILE))?;
    for (name, der) in
        std::iter::once((CERT_FILE, &cert)).chain(next.iter().map(|n| (NEXT_CERT_FILE, n)))
    {
        let (from, until) =
            validity_ms(der).with_context(|| format!("{name} is not a certificate"))?;
        if now_ms < from || now_ms > until {
            anyhow::bail!(
                "{name} is valid from {} to {} (Unix ms), not now",
                from,
                until
            );
        }
    }
    let identity = Identity {
        cert: CertificateDer::from(cert),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
        next: next.map(CertificateDer::from),
    };
    // rustls checks that the key parses and matches the certificate.
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(chain(&identity), identity.key.clone_key())
        .with_context(|| format!("{KEY_FILE} and {CERT_FILE} do not go together"))?;
    Ok(identity)
}

/// A DER certificate's validity: (not before, not after) in Unix ms.
pub fn validity_ms(der: &[u8]) -> anyhow::Result<(i64, i64)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| anyhow::anyhow!("unreadable X.509 certificate: {e}"))?;
    let v = cert.validity();
    let ms = |t: &x509_parser::time::ASN1Time| t.timestamp().saturating_mul(1000);
    Ok((ms(&v.not_before), ms(&v.not_after)))
}

fn read_optional(path: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// A self-signed certificate and its PKCS#8 key, both DER.
fn generate() -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let names = vec![
        gridwarden_protocol::SERVER_NAME.to_string(),
        "localhost".to_string(),
    ];
    let generated = rcgen::generate_simple_self_signed(names)
        .context("generating a development certificate")?;
    Ok((
        generated.cert.der().to_vec(),
        generated.key_pair.serialize_der(),
    ))
}

/// Starts a rotation: creates the next certificate. Devices learn it at
/// their next connection once the server was restarted. Refused if a
/// rotation is already under way.
pub fn begin_rotation(dir: &Path) -> anyhow::Result<[u8; 32]> {
    let (cert_path, key_path) = (dir.join(NEXT_CERT_FILE), dir.join(NEXT_KEY_FILE));
    if cert_path.exists() || key_path.exists() {
        anyhow::bail!(
            "a rotation is already under way ({} exists); finish it with `cert activate` or drop it with `cert cancel`",
            cert_path.display()
        );
    }
    let (cert, key) = generate()?;
    write_private(&key_path, &key)?;
    write_synced(&cert_path, &cert)?;
    Ok(fingerprint(&cert))
}

/// Ends a rotation: the next certificate becomes the current one, the
/// current one is kept as the previous. Renames are atomic one by one; the
/// key moves first, so an interruption leaves a next certificate without its
/// key, which [`load_or_create`] completes.
pub fn activate_rotation(dir: &Path) -> anyhow::Result<[u8; 32]> {
    let (next_cert, next_key) = (dir.join(NEXT_CERT_FILE), dir.join(NEXT_KEY_FILE));
    if !(next_cert.exists() && next_key.exists()) {
        anyhow::bail!("no rotation is under way; start one with `cert rotate`");
    }
    let read = |name: &str| {
        std::fs::read(dir.join(name))
            .with_context(|| format!("reading {}", dir.join(name).display()))
    };
    write_synced(&dir.join(PREVIOUS_CERT_FILE), &read(CERT_FILE)?)?;
    let previous_key = dir.join(PREVIOUS_KEY_FILE);
    if previous_key.exists() {
        std::fs::remove_file(&previous_key)
            .with_context(|| format!("replacing {}", previous_key.display()))?;
    }
    write_private(&previous_key, &read(KEY_FILE)?)?;
    std::fs::rename(&next_key, dir.join(KEY_FILE)).context("installing the next key")?;
    std::fs::rename(&next_cert, dir.join(CERT_FILE)).context("installing the next certificate")?;
    sync_dir(dir)?;
    Ok(fingerprint(&std::fs::read(dir.join(CERT_FILE))?))
}

/// Drops a rotation that was started: the next certificate is deleted.
pub fn cancel_rotation(dir: &Path) -> anyhow::Result<()> {
    let mut removed = false;
    for name in [NEXT_KEY_FILE, NEXT_CERT_FILE] {
        match std::fs::remove_file(dir.join(name)) {
            Ok(()) => removed = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).context(format!("removing {name}")),
        }
    }
    if !removed {
        anyhow::bail!("no rotation is under way");
    }
    sync_dir(dir)
}

fn finish_interrupted_activation(dir: &Path) -> anyhow::Result<()> {
    let next_cert = dir.join(NEXT_CERT_FILE);
    if next_cert.exists() && !dir.join(NEXT_KEY_FILE).exists() {
        tracing::warn!("completing a certificate activation that was interrupted");
        std::fs::rename(&next_cert, dir.join(CERT_FILE))
            .context("completing an interrupted certificate activation")?;
        sync_dir(dir)?;
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file =
        std::fs::File::create(path).with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))?;
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

/// The certificate, then the next one during a rotation: devices read the
/// second entry as the announcement (the handshake signature covers it).
fn chain(identity: &Identity) -> Vec<CertificateDer<'static>> {
    std::iter::once(identity.cert.clone())
        .chain(identity.next.clone())
        .collect()
}

/// Sessions the server keeps for resumption: two per connection for a
/// city's devices, the oldest dropped first (about 100 B each).
const RESUMABLE_SESSIONS: usize = 16_384;

/// QUIC server configuration: TLS 1.3 only, our ALPN, bounded streams.
pub fn quic_server_config(
    identity: &Identity,
    max_frame: usize,
    idle_timeout: std::time::Duration,
) -> anyhow::Result<quinn::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(device_key::AnyDeviceKey::new(provider)))
        .with_single_cert(chain(identity), identity.key.clone_key())?;
    tls.alpn_protocols = vec![gridwarden_protocol::ALPN.to_vec()];
    // 0-RTT for a device resuming its session (ADR 0029): only its Hello
    // is served before the handshake completes. Sessions are kept in the
    // server's memory and each is used once (rustls takes it out of the
    // cache), so a replayed first flight cannot resume and its early data
    // is refused; a restart forgets them and devices do a full handshake.
    tls.max_early_data_size = u32::MAX;
    tls.session_storage = rustls::server::ServerSessionMemoryCache::new(RESUMABLE_SESSIONS);
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let transport = Arc::get_mut(&mut config.transport).expect("fresh transport config");
    // One stream until the peer said hello (net.rs opens more after it), and
    // a connection-wide receive window of about one frame: an anonymous peer
    // cannot make the server buffer more than that.
    transport.max_concurrent_bidi_streams(1u32.into());
    transport.receive_window(quinn::VarInt::from_u32(
        u32::try_from(max_frame + 64 * 1024).unwrap_or(u32::MAX),
    ));
    transport.max_concurrent_uni_streams(0u32.into());
    transport.max_idle_timeout(Some(idle_timeout.try_into()?));
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_announces_then_installs_the_next_certificate_and_keeps_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        assert!(first.next.is_none());
        assert!(cancel_rotation(dir.path()).is_err(), "nothing to cancel");
        let next = begin_rotation(dir.path()).unwrap();
        let err = begin_rotation(dir.path()).unwrap_err().to_string();
        assert!(err.contains("already under way"), "{err}");
        let during = load_or_create(dir.path()).unwrap();
        assert_eq!(during.fingerprint(), first.fingerprint());
        assert_eq!(during.next_fingerprint(), Some(next));
        assert_eq!(chain(&during).len(), 2);
        quic_server_config(&during, 1 << 20, std::time::Duration::from_secs(5)).unwrap();

        assert_eq!(activate_rotation(dir.path()).unwrap(), next);
        let after = load_or_create(dir.path()).unwrap();
        assert_eq!((after.fingerprint(), after.next), (next, None));
        let previous = std::fs::read(dir.path().join(PREVIOUS_CERT_FILE)).unwrap();
        assert_eq!(fingerprint(&previous), first.fingerprint());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(PREVIOUS_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the old key stays private");
        }
        assert!(
            activate_rotation(dir.path()).is_err(),
            "nothing left to activate"
        );
    }

    #[test]
    fn an_activation_cut_between_its_two_renames_is_completed_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path()).unwrap();
        let next = begin_rotation(dir.path()).unwrap();
        // The key was installed, then the machine stopped.
        std::fs::rename(dir.path().join(NEXT_KEY_FILE), dir.path().join(KEY_FILE)).unwrap();
        let identity = load_or_create(dir.path()).unwrap();
        assert_eq!(identity.fingerprint(), next);
        assert!(identity.next.is_none());
        quic_server_config(&identity, 1 << 20, std::time::Duration::from_secs(5))
            .expect("certificate and key belong together");
    }

    #[test]
    fn a_cancelled_rotation_announces_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        begin_rotation(dir.path()).unwrap();
        cancel_rotation(dir.path()).unwrap();
        let identity = load_or_create(dir.path()).unwrap();
        assert_eq!(
            (identity.fingerprint(), identity.next),
            (first.fingerprint(), None)
        );
    }
}

//! The server's certificate. On first start a self-signed development
//! certificate is generated and persisted in the data directory, so enrolled
//! devices keep trusting it across restarts: they pin its SHA-256 fingerprint.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

pub const CERT_FILE: &str = "server-cert.der";
pub const KEY_FILE: &str = "server-key.der";

pub struct Identity {
    pub cert: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    /// SHA-256 of the certificate's DER bytes, as `openssl x509 -fingerprint -sha256` shows.
    pub fn fingerprint(&self) -> [u8; 32] {
        fingerprint(&self.cert)
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

/// Loads the certificate and key from `dir`, creating them if absent.
pub fn load_or_create(dir: &Path) -> anyhow::Result<Identity> {
    let cert_path = dir.join(CERT_FILE);
    let key_path = dir.join(KEY_FILE);
    if cert_path.exists() && key_path.exists() {
        let cert = std::fs::read(&cert_path)
            .with_context(|| format!("reading {}", cert_path.display()))?;
        let key =
            std::fs::read(&key_path).with_context(|| format!("reading {}", key_path.display()))?;
        return Ok(Identity {
            cert: CertificateDer::from(cert),
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
        });
    }
    let names = vec![
        gridwarden_protocol::SERVER_NAME.to_string(),
        "localhost".to_string(),
    ];
    let generated = rcgen::generate_simple_self_signed(names)
        .context("generating a development certificate")?;
    let cert = generated.cert.der().to_vec();
    let key = generated.key_pair.serialize_der();
    write_private(&key_path, &key)?;
    std::fs::write(&cert_path, &cert)
        .with_context(|| format!("writing {}", cert_path.display()))?;
    Ok(Identity {
        cert: CertificateDer::from(cert),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
    })
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

/// QUIC server configuration: TLS 1.3 only, our ALPN, bounded streams.
pub fn quic_server_config(
    identity: &Identity,
    max_frame: usize,
    idle_timeout: std::time::Duration,
) -> anyhow::Result<quinn::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(vec![identity.cert.clone()], identity.key.clone_key())?;
    tls.alpn_protocols = vec![gridwarden_protocol::ALPN.to_vec()];
    // No 0-RTT until the protocol makes its first flight replay-safe.
    tls.max_early_data_size = 0;
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

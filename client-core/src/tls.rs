//! Certificate pinning. The server's certificate is self-signed and its name
//! is a fixed label, so the usual web PKI checks mean nothing here; what the
//! device trusts is the exact certificate whose SHA-256 it learnt from the
//! enrolment code. The handshake signature is still verified, which proves the
//! server holds that certificate's private key.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

/// SHA-256 of a DER certificate, the fingerprint enrolment codes carry.
pub fn fingerprint(cert_der: &[u8]) -> [u8; 32] {
    Sha256::digest(cert_der).into()
}

/// Accepts exactly one certificate, by fingerprint, and remembers what it was
/// shown so a refusal can be reported as a mismatch rather than a vague
/// handshake failure.
#[derive(Debug)]
pub(crate) struct PinnedCertVerifier {
    expected: [u8; 32],
    seen: Mutex<Option<[u8; 32]>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedCertVerifier {
    pub fn new(expected: [u8; 32], provider: &CryptoProvider) -> Self {
        Self {
            expected,
            seen: Mutex::new(None),
            algorithms: provider.signature_verification_algorithms,
        }
    }

    /// The fingerprint of the certificate the server presented, if it
    /// differed from the pinned one.
    pub fn mismatch(&self) -> Option<[u8; 32]> {
        let seen = *self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.filter(|s| *s != self.expected)
    }
}

impl ServerCertVerifier for PinnedCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // Name and validity period are deliberately ignored: the pin is the
        // whole trust decision, and a field device's clock may be wrong.
        let actual = fingerprint(end_entity.as_ref());
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(actual);
        if actual == self.expected {
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

/// A TLS 1.3 client configuration that pins `expected`, using the ring
/// provider built here (nothing is installed process-wide, so a host app's
/// own rustls setup is left alone).
pub(crate) fn client_config(
    expected: [u8; 32],
) -> Result<(rustls::ClientConfig, Arc<PinnedCertVerifier>), rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedCertVerifier::new(expected, &provider));
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    config.alpn_protocols = vec![gridwarden_protocol::ALPN.to_vec()];
    Ok((config, verifier))
}

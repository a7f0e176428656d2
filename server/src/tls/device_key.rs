//! The key a device may show in the QUIC handshake: a self-signed client
//! certificate, never required. Nothing about the certificate is trusted
//! (no chain, no names, no dates): it only carries a public key, and the
//! handshake signature, checked here, proves the device holds its private
//! key. The service uses the key's hash to recognise an enrolment retried
//! after a lost answer (`service/enrolment.rs`).

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// Asks for a client certificate, accepts its absence, and checks only
/// the handshake signature of one that is shown.
#[derive(Debug)]
pub struct AnyDeviceKey {
    provider: Arc<CryptoProvider>,
}

impl AnyDeviceKey {
    pub fn new(provider: Arc<CryptoProvider>) -> Self {
        Self { provider }
    }
}

impl ClientCertVerifier for AnyDeviceKey {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Who the device is comes from its token (Hello) or its code
        // (Enroll); the certificate only names a key, proven below.
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// BLAKE3 of the public key (SubjectPublicKeyInfo) in the certificate a
/// device showed; `None` for one that does not parse (then it enrols as an
/// app without a key does).
pub fn hash(cert: &CertificateDer<'_>) -> Option<[u8; 32]> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert).ok()?;
    Some(*blake3::hash(cert.public_key().raw).as_bytes())
}

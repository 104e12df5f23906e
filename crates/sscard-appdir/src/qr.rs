//! The electronic social security card's QR token (`spec/app-directory.md` §4): a
//! dynamic, single-use token of about 60 seconds that a terminal hands to a platform
//! service to resolve. The payload format is not public, so the token is opaque and
//! resolution is a trait the integrator implements against their platform.

use alloc::string::String;
use core::fmt;

/// How long a scanned token is accepted, in seconds (observed ~60 s; not a public
/// constant \[U\]).
pub const LIFETIME_SECONDS: u64 = 60;

/// A scanned QR token: opaque text, the time it was scanned, used at most once.
pub struct QrToken {
    payload: String,
    scanned_at: u64,
}

impl QrToken {
    /// A token scanned at `now` (seconds, any epoch the caller keeps consistent).
    pub fn new(payload: String, now: u64) -> Self {
        Self {
            payload,
            scanned_at: now,
        }
    }

    /// Whether the token is older than [`LIFETIME_SECONDS`] at `now`.
    pub fn is_expired(&self, now: u64) -> bool {
        now.saturating_sub(self.scanned_at) > LIFETIME_SECONDS
    }

    /// The payload, for the resolver only.
    pub fn payload(&self) -> &str {
        &self.payload
    }
}

impl fmt::Debug for QrToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A live credential: never in logs.
        write!(
            f,
            "QrToken(<{} bytes>, scanned at {})",
            self.payload.len(),
            self.scanned_at
        )
    }
}

/// Why a token was not resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum QrError<E> {
    /// Older than its lifetime; not sent to the platform.
    Expired,
    /// The platform refused it or failed.
    Platform(E),
}

impl<E: fmt::Display> fmt::Display for QrError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Expired => f.write_str("the QR token has expired; ask the holder to refresh it"),
            Self::Platform(e) => write!(f, "QR token not resolved: {e}"),
        }
    }
}

/// Resolves tokens with the integrator's platform service.
pub trait QrResolver {
    /// What a resolved token gives (typically the holder's identity).
    type Holder;
    /// The platform's error.
    type Error;

    /// Sends the token to the platform. Called only for tokens that have not expired.
    fn resolve_payload(&mut self, payload: &str) -> Result<Self::Holder, Self::Error>;

    /// Resolves a token, consuming it (a token is single use), refusing expired ones.
    fn resolve(&mut self, token: QrToken, now: u64) -> Result<Self::Holder, QrError<Self::Error>> {
        if token.is_expired(now) {
            return Err(QrError::Expired);
        }
        self.resolve_payload(token.payload())
            .map_err(QrError::Platform)
    }
}

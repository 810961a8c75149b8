//! The idauth client SDK: what an agency's counter software or an enrolment centre
//! links to call the service.
//!
//! - [`Client::connect`] opens one HTTP/2 connection (TLS when the address is
//!   `https://`), presenting the caller's [`Credential`] on every call.
//! - [`Client::service_keys`] fetches the current envelope key and the receipt key;
//!   [`ServiceKeys::seal`] encrypts fingers to the service, bound to one request, and
//!   [`ServiceKeys::verify_receipt`] / [`ServiceKeys::write_receipt`] check the
//!   gateway's signature on an answer.
//! - Calls pass through adaptive throttling ([`ThrottleSettings`]): once the service
//!   refuses calls as over capacity, the client refuses a share of new ones itself
//!   ([`ClientError::Throttled`]), so that a caller's surplus costs the service nothing.
//! - Every call returns [`ClientError`]: a refusal carries the service's
//!   [`ErrorCode`](idauth_core::ErrorCode), with its family and action hint.
//!
//! The envelope and receipt formats are defined here, once: the gateway opens
//! envelopes and signs receipts with the same functions ([`envelope`], [`receipt`]).

mod calls;
mod connect;
pub mod envelope;
mod error;
mod ids;
mod keys;
pub mod receipt;
mod throttle;

pub use calls::Client;
pub use connect::{Authenticated, Credential, Tls};
pub use error::ClientError;
/// The public API's messages, as the calls take and return them.
pub use idauth_proto::v1;
pub use ids::{fresh_id, now};
pub use keys::{EnvelopeKey, ServiceKeys};
pub use throttle::ThrottleSettings;

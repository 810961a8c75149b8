//! tonic answers bytes it cannot decode, and messages over its transport limit, before
//! any handler runs, with INTERNAL and OUT_OF_RANGE statuses that carry no idauth
//! error. A caller reads INTERNAL as "the server failed, retry", and would send the
//! same bad bytes again; the catalogue has the right answers (BAD_REQUEST,
//! MESSAGE_TOO_LARGE). This wrapper puts each public service's answers through
//! [`caller_fault`], so the rewrite happens in one place for unary calls, and the
//! VerifyBatch stream applies the same function to the items it cannot decode.

use futures_util::TryFutureExt;
use futures_util::future::MapOk;
use idauth_core::ErrorCode;
use idauth_proto::status::to_status;
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::http::{Request, Response};
use tonic::codegen::{Context, Poll, Service};
use tonic::server::NamedService;

/// The catalogue error for a status tonic made itself from a caller's bytes, or `None`
/// for any other status. Ours always carry an `idauth.v1.Error` detail; tonic's never
/// do, and the only INTERNAL and OUT_OF_RANGE it raises on a server are the decode
/// failure (garbage, truncated varint, length past the end, missing message) and the
/// decoding size limit.
pub fn caller_fault(status: &Status) -> Option<ErrorCode> {
    if !status.details().is_empty() {
        return None;
    }
    match status.code() {
        tonic::Code::Internal => Some(ErrorCode::BadRequest),
        tonic::Code::OutOfRange => Some(ErrorCode::MessageTooLarge),
        _ => None,
    }
}

/// A public service whose tonic-made answers to bad bytes are rewritten by
/// [`caller_fault`].
#[derive(Debug, Clone)]
pub struct CallerFaults<S>(pub S);

impl<S: NamedService> NamedService for CallerFaults<S> {
    const NAME: &'static str = S::NAME;
}

type Rewrite = fn(Response<Body>) -> Response<Body>;

fn rewrite(response: Response<Body>) -> Response<Body> {
    // A unary failure is "trailers-only": its status is in the response headers.
    match Status::from_header_map(response.headers())
        .as_ref()
        .and_then(caller_fault)
    {
        Some(code) => to_status(code).into_http(),
        None => response,
    }
}

impl<S, B> Service<Request<B>> for CallerFaults<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = MapOk<S::Future, Rewrite>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.0.call(request).map_ok(rewrite as Rewrite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tonic_made_statuses_are_rewritten() {
        let decode = Status::internal("failed to decode Protobuf message: invalid varint");
        assert_eq!(caller_fault(&decode), Some(ErrorCode::BadRequest));
        let too_big = Status::out_of_range("decoded message length too large");
        assert_eq!(caller_fault(&too_big), Some(ErrorCode::MessageTooLarge));
        assert_eq!(caller_fault(&Status::unavailable("down")), None);
        for &code in ErrorCode::ALL {
            assert_eq!(caller_fault(&to_status(code)), None, "{code:?}");
        }
    }

    #[test]
    fn a_rewritten_answer_carries_the_catalogue_error() {
        let tonic_made = Status::internal("failed to decode Protobuf message").into_http();
        let answer = rewrite(tonic_made);
        let status = Status::from_header_map(answer.headers()).unwrap();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(
            idauth_proto::status::from_status(&status),
            ErrorCode::BadRequest
        );
        let ours = to_status(ErrorCode::Internal);
        let kept = rewrite(ours.clone().into_http());
        let status = Status::from_header_map(kept.headers()).unwrap();
        assert_eq!(status.code(), tonic::Code::Internal);
        assert_eq!(status.details(), ours.details());
    }
}

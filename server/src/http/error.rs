//! Errors at the HTTP edge, mapped in one place: a refusal's code becomes a
//! status and a JSON body `{"error", "code"}` with the service's sentence;
//! a store failure is logged and answered with a 500 that says nothing
//! internal.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gridwarden_protocol::ErrorCode;
use serde_json::json;

use crate::service::ServiceError;

#[derive(Debug)]
pub struct ApiError(pub ServiceError);

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        ApiError(e)
    }
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError(ServiceError::Refused {
            code,
            message: message.into(),
        })
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    /// The status and the short code the page switches on.
    pub fn status(&self) -> (StatusCode, &'static str) {
        match &self.0 {
            ServiceError::Ambiguous { .. } => (StatusCode::CONFLICT, "ambiguous"),
            ServiceError::Refused { code, .. } => match code {
                ErrorCode::Unauthenticated | ErrorCode::EnrolmentRefused => {
                    (StatusCode::UNAUTHORIZED, "unauthenticated")
                }
                ErrorCode::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
                ErrorCode::NotFound => (StatusCode::NOT_FOUND, "not_found"),
                ErrorCode::Conflict => (StatusCode::CONFLICT, "conflict"),
                ErrorCode::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
                ErrorCode::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
                _ => (StatusCode::BAD_REQUEST, "bad_request"),
            },
            ServiceError::Store(crate::store::StoreError::NotFound(_)) => {
                (StatusCode::NOT_FOUND, "not_found")
            }
            ServiceError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status();
        let message = match &self.0 {
            ServiceError::Store(e) if status == StatusCode::INTERNAL_SERVER_ERROR => {
                tracing::error!(error = %e, "store failure while serving the console");
                "the server could not complete the request; try again".to_owned()
            }
            other => other.to_string(),
        };
        let mut body = json!({"error": message, "code": code});
        if let ServiceError::Ambiguous { matches, .. } = &self.0 {
            body["matches"] = json!(matches);
        }
        (status, Json(body)).into_response()
    }
}

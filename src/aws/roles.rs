//! Credentials of a role the controller assumes (`spec.roleArn`): STS AssumeRole through
//! aws-config's provider, whose failures name the role and say whether STS refused (terminal:
//! no such role, not trusted) or could not answer (throttled, 5xx, unreachable: retried).

use std::sync::OnceLock;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials};
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::call::{class_of, ErrorClass};

/// The IAM action the controller needs on each role it assumes (in the policy files).
pub const ASSUME_ROLE_ACTION: &str = "sts:AssumeRole";

/// This process's role session name, `lambda-reconciler-` and 8 random hex digits: its CloudTrail
/// events carry `assumed-role/ROLE/SESSION`, which no other process (another replica, a CI
/// `apply`, a person) shares, so the events of only this process's writes are its own.
pub fn session_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| format!("lambda-reconciler-{:08x}", fastrand::u32(..)))
}

/// AssumeRole's credentials for `role`; an error says which role could not be assumed and why.
#[derive(Debug)]
pub struct RoleCredentials {
    pub role: String,
    pub inner: aws_config::sts::AssumeRoleProvider,
}

impl ProvideCredentials for RoleCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            self.inner.provide_credentials().await.map_err(|e| {
                let why = format!("{ASSUME_ROLE_ACTION} on {} failed: {}", self.role, DisplayErrorContext(&e));
                if refused(&e) {
                    CredentialsError::invalid_configuration(why)
                } else {
                    CredentialsError::provider_error(why)
                }
            })
        })
    }
}

/// Whether STS refused the role for good (AccessDenied, a role that does not exist, a disabled
/// region), as opposed to throttling, a 5xx or no answer.
fn refused(e: &CredentialsError) -> bool {
    if matches!(e, CredentialsError::InvalidConfiguration(_)) {
        return true;
    }
    let sdk = std::error::Error::source(e).and_then(|s| s.downcast_ref::<SdkError<AssumeRoleError, HttpResponse>>());
    match sdk {
        Some(SdkError::ServiceError(ctx)) => {
            let status = ctx.raw().status().as_u16();
            let code = ctx.err().code().unwrap_or_default();
            class_of(ASSUME_ROLE_ACTION, code, ctx.err().message().unwrap_or_default(), Some(status))
                == ErrorClass::Terminal
        }
        _ => false,
    }
}

/// A credentials failure somewhere in `err`'s source chain: whether it is final (a role STS
/// refused, a bad configuration) and its message; `None` when `err` is something else.
pub fn credentials_failure(err: &(dyn std::error::Error + 'static)) -> Option<(bool, String)> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            let message = std::error::Error::source(c).map(|s| s.to_string()).unwrap_or_else(|| c.to_string());
            return Some((matches!(c, CredentialsError::InvalidConfiguration(_)), message));
        }
        cur = e.source();
    }
    None
}

//! Credentials of a role the controller assumes (`spec.roleArn`): STS AssumeRole through
//! aws-config's provider, whose failures name the role, and are told apart from an outage.

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials};
use aws_smithy_types::error::display::DisplayErrorContext;

/// The IAM action the controller needs on each role it assumes (in the policy files).
pub const ASSUME_ROLE_ACTION: &str = "sts:AssumeRole";

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
                let why = DisplayErrorContext(&e).to_string();
                CredentialsError::provider_error(format!("{ASSUME_ROLE_ACTION} on {} failed: {why}", self.role))
            })
        })
    }
}

/// The message of a credentials failure somewhere in `err`'s source chain (a role that cannot
/// be assumed, expired or missing credentials), or `None` when `err` is something else.
pub fn credentials_failure(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            let inner = std::error::Error::source(c).map(|s| s.to_string());
            return Some(inner.unwrap_or_else(|| c.to_string()));
        }
        cur = e.source();
    }
    None
}

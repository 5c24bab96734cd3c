//! A Secrets Manager value an environment variable references.

/// A Secrets Manager value a manifest references: the secret and its version (stage or id).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecretRef {
    pub id: String,
    pub version: Option<String>,
}

impl SecretRef {
    /// Its entry in the resolved map (beside SSM names; `:` cannot start an SSM name).
    pub fn key(&self) -> String {
        format!(":secret:{}@{}", self.id, self.version.as_deref().unwrap_or(""))
    }
    /// The entry that carries why it could not be read (its value is the reason).
    pub fn error_key(&self) -> String {
        format!(":secret-error:{}@{}", self.id, self.version.as_deref().unwrap_or(""))
    }
}

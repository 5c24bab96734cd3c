//! The lease table (DynamoDB): one item per lease, read strongly consistent and written only
//! with conditions, in the item layout of the AWS DynamoDB Lock Client (`key`, `ownerName`,
//! `recordVersionNumber`, `leaseDuration` in milliseconds), plus `expiresAt` for the table's TTL.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;

use super::call::{AwsError, Caller};

/// A lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    pub owner: String,
    /// Changed by every write (a random value): a follower that sees it unchanged for the lease
    /// duration may take the lease over, without comparing clocks across machines.
    pub rvn: String,
    pub duration: Duration,
}

/// A conditional write: done, or refused because the item was not as expected (another replica
/// wrote first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cas {
    Done,
    Lost,
}

/// How long an unrenewed item stays in the table before the TTL may remove it (a lease of a
/// shard no replica runs any more): far beyond any lease duration.
const KEEP_FOR: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone)]
pub struct LeaseTable {
    client: aws_sdk_dynamodb::Client,
    caller: Caller,
    table: String,
}

impl LeaseTable {
    pub fn new(config: &aws_config::SdkConfig, caller: Caller, table: &str) -> Self {
        LeaseTable { client: aws_sdk_dynamodb::Client::new(config), caller, table: table.to_string() }
    }

    pub async fn read(&self, key: &str) -> Result<Option<LeaseRecord>, AwsError> {
        Ok(self.get(key).await?.as_ref().and_then(record))
    }

    /// The item at `key`, read strongly consistent (a lease's last writer must be seen).
    async fn get(&self, key: &str) -> Result<Option<HashMap<String, AttributeValue>>, AwsError> {
        const OP: &str = "dynamodb:GetItem";
        let out = self
            .caller
            .call(OP, || {
                self.client
                    .get_item()
                    .table_name(&self.table)
                    .key("key", AttributeValue::S(key.to_string()))
                    .consistent_read(true)
                    .send()
            })
            .await?;
        Ok(out.item)
    }

    /// Creates the lease if no item exists.
    pub async fn create(&self, key: &str, new: &LeaseRecord) -> Result<Cas, AwsError> {
        self.put(key, new, "attribute_not_exists(#k)", None).await
    }

    /// Replaces the lease if its version is still `expected` (a renewal, or a takeover of a lease
    /// seen unchanged for its duration).
    pub async fn replace(&self, key: &str, expected: &str, new: &LeaseRecord) -> Result<Cas, AwsError> {
        self.put(key, new, "#v = :expected", Some(expected)).await
    }

    async fn put(
        &self,
        key: &str,
        new: &LeaseRecord,
        condition: &str,
        expected: Option<&str>,
    ) -> Result<Cas, AwsError> {
        const OP: &str = "dynamodb:PutItem";
        let expires = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + KEEP_FOR;
        let result = self
            .caller
            .call(OP, || {
                let mut req = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .item("key", AttributeValue::S(key.to_string()))
                    .item("ownerName", AttributeValue::S(new.owner.clone()))
                    .item("recordVersionNumber", AttributeValue::S(new.rvn.clone()))
                    .item("leaseDuration", AttributeValue::S(new.duration.as_millis().to_string()))
                    .item("expiresAt", AttributeValue::N(expires.as_secs().to_string()))
                    .condition_expression(condition);
                req = if condition.contains("#k") {
                    req.expression_attribute_names("#k", "key")
                } else {
                    req.expression_attribute_names("#v", "recordVersionNumber")
                };
                if let Some(v) = expected {
                    req = req.expression_attribute_values(":expected", AttributeValue::S(v.to_string()));
                }
                req.send()
            })
            .await;
        cas(result)
    }

    /// Deletes the lease if this replica still holds it at version `rvn` (a release on shutdown:
    /// the next replica need not wait out the lease).
    pub async fn release(&self, key: &str, owner: &str, rvn: &str) -> Result<Cas, AwsError> {
        const OP: &str = "dynamodb:DeleteItem";
        let result = self
            .caller
            .call(OP, || {
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .key("key", AttributeValue::S(key.to_string()))
                    .condition_expression("#v = :v AND #o = :o")
                    .expression_attribute_names("#v", "recordVersionNumber")
                    .expression_attribute_names("#o", "ownerName")
                    .expression_attribute_values(":v", AttributeValue::S(rvn.to_string()))
                    .expression_attribute_values(":o", AttributeValue::S(owner.to_string()))
                    .send()
            })
            .await;
        cas(result)
    }
}

/// The members item (`--shards` above 1): one attribute `member:OWNER` per replica, set to a new
/// value at each of its heartbeats, so replicas can count each other without comparing clocks.
impl LeaseTable {
    pub async fn beat(&self, key: &str, owner: &str, rvn: &str) -> Result<(), AwsError> {
        const OP: &str = "dynamodb:UpdateItem";
        let expires = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + KEEP_FOR;
        self.caller
            .call(OP, || {
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .key("key", AttributeValue::S(key.to_string()))
                    .update_expression("SET #m = :v, #e = :e")
                    .expression_attribute_names("#m", format!("{MEMBER}{owner}"))
                    .expression_attribute_names("#e", "expiresAt")
                    .expression_attribute_values(":v", AttributeValue::S(rvn.to_string()))
                    .expression_attribute_values(":e", AttributeValue::N(expires.as_secs().to_string()))
                    .send()
            })
            .await
            .map(|_| ())
    }

    /// (owner, value) of every replica on the members item.
    pub async fn members(&self, key: &str) -> Result<Vec<(String, String)>, AwsError> {
        let item = self.get(key).await?.unwrap_or_default();
        Ok(item
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(MEMBER)?.to_string(), v.as_s().ok()?.clone())))
            .collect())
    }

    /// Removes a replica seen dead, if its value is still `rvn` (it did not come back).
    pub async fn forget(&self, key: &str, owner: &str, rvn: &str) -> Result<Cas, AwsError> {
        const OP: &str = "dynamodb:UpdateItem";
        let result = self
            .caller
            .call(OP, || {
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .key("key", AttributeValue::S(key.to_string()))
                    .update_expression("REMOVE #m")
                    .condition_expression("#m = :v")
                    .expression_attribute_names("#m", format!("{MEMBER}{owner}"))
                    .expression_attribute_values(":v", AttributeValue::S(rvn.to_string()))
                    .send()
            })
            .await;
        cas(result)
    }
}

const MEMBER: &str = "member:";

/// A refused condition is an answer (`Lost`), not an error.
fn cas<T>(result: Result<T, AwsError>) -> Result<Cas, AwsError> {
    match result {
        Ok(_) => Ok(Cas::Done),
        Err(e) if e.code == "ConditionalCheckFailedException" => Ok(Cas::Lost),
        Err(e) => Err(e),
    }
}

fn record(item: &HashMap<String, AttributeValue>) -> Option<LeaseRecord> {
    let s = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    Some(LeaseRecord {
        owner: s("ownerName")?,
        rvn: s("recordVersionNumber")?,
        // Written by another replica: clamped to what --lease-duration accepts.
        duration: crate::types::limits::clamp_lease_duration(Duration::from_millis(s("leaseDuration")?.parse().ok()?)),
    })
}

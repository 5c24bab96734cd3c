//! The events queue (SQS): long-poll receive and batch delete, narrowed to message bodies.

use std::time::Duration;

use super::call::{AwsError, Caller};

/// SQS ReceiveMessage returns at most 10 messages; DeleteMessageBatch takes at most 10 entries.
pub const BATCH: usize = 10;

/// One received message: its body and the receipt handle that deletes it.
#[derive(Debug, Clone)]
pub struct Message {
    pub receipt: String,
    pub body: String,
}

/// One queue, read with the credentials of its account.
#[derive(Clone)]
pub struct EventQueue {
    client: aws_sdk_sqs::Client,
    caller: Caller,
    pub url: String,
}

impl EventQueue {
    pub fn new(config: &aws_config::SdkConfig, caller: Caller, url: &str) -> Self {
        EventQueue { client: aws_sdk_sqs::Client::new(config), caller, url: url.to_string() }
    }

    /// Waits up to `wait` (long polling, at most 20 s) for up to 10 messages.
    pub async fn receive(&self, wait: Duration) -> Result<Vec<Message>, AwsError> {
        let seconds = wait.as_secs().min(20) as i32;
        let out = self
            .caller
            .call_unlimited("sqs:ReceiveMessage", || {
                self.client
                    .receive_message()
                    .queue_url(&self.url)
                    .max_number_of_messages(BATCH as i32)
                    .wait_time_seconds(seconds)
                    .send()
            })
            .await?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| Some(Message { receipt: m.receipt_handle?, body: m.body.unwrap_or_default() }))
            .collect())
    }

    /// Deletes the messages of `receipts` (10 a call). A receipt that failed is returned: the
    /// message comes back after its visibility timeout, which is harmless (reconcile is idempotent).
    pub async fn delete(&self, receipts: &[String]) -> Result<Vec<String>, AwsError> {
        let mut failed = Vec::new();
        for chunk in receipts.chunks(BATCH) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .build()
                        .expect("id and receipt handle are set")
                })
                .collect();
            // IAM: DeleteMessageBatch is authorized by the sqs:DeleteMessage action.
            let out = self
                .caller
                .call_unlimited("sqs:DeleteMessage", || {
                    self.client.delete_message_batch().queue_url(&self.url).set_entries(Some(entries.clone())).send()
                })
                .await?;
            for f in out.failed {
                if let Some(r) = f.id.parse::<usize>().ok().and_then(|i| chunk.get(i)) {
                    failed.push(r.clone());
                }
            }
        }
        Ok(failed)
    }
}

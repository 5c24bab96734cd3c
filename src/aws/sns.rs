//! SNS Publish, for the alert sink.

use super::call::{AwsError, Caller};

#[derive(Clone)]
pub struct Sns {
    client: aws_sdk_sns::Client,
    caller: Caller,
}

impl Sns {
    pub fn new(config: &aws_config::SdkConfig, caller: Caller) -> Self {
        Sns { client: aws_sdk_sns::Client::new(config), caller }
    }

    pub async fn publish(&self, topic_arn: &str, subject: &str, message: &str) -> Result<(), AwsError> {
        self.caller
            .call("sns:Publish", || self.client.publish().topic_arn(topic_arn).subject(subject).message(message).send())
            .await
            .map(drop)
    }
}

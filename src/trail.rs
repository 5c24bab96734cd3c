//! CloudTrail management events, as EventBridge delivers them, narrowed to the function a call
//! touched: account, region, function name, the call and who made it. Pure parsing.

use serde_json::Value;

use crate::types::ChangedBy;

/// A successful mutating call on a Lambda function (or its provisioned-concurrency scaling).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touched {
    pub account: String,
    pub region: String,
    /// The function's name (CloudTrail records what the caller sent: a name, a partial or full
    /// ARN, with or without qualifier; normalised here).
    pub function: String,
    /// The API operation, without the version suffix Lambda's event names carry
    /// (`UpdateAlias20150331` → `UpdateAlias`).
    pub call: String,
    /// `userIdentity.arn` of the caller, when recorded.
    pub caller: Option<String>,
    /// Who made the call, how and when (for drift alerts).
    pub by: ChangedBy,
    /// An Application Auto Scaling call (the function's scaling targets changed).
    pub scaling: bool,
}

/// Why an event names no function to look at. Every such message is deleted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ignored {
    #[error("not a JSON EventBridge event: {0}")]
    Malformed(String),
    #[error("not an AWS API call via CloudTrail (detail-type {0:?})")]
    NotApiCall(String),
    #[error("event source {0} is not Lambda or Application Auto Scaling of Lambda")]
    NotLambda(String),
    #[error("{0} only reads")]
    ReadOnly(String),
    #[error("{call} failed ({code}): nothing changed")]
    Failed { call: String, code: String },
    #[error("{0} names no function")]
    NoFunction(String),
}

impl Ignored {
    /// The metric label of this outcome.
    pub fn label(&self) -> &'static str {
        match self {
            Ignored::Malformed(_) => "malformed",
            Ignored::NotApiCall(_) | Ignored::NotLambda(_) | Ignored::ReadOnly(_) | Ignored::NoFunction(_) => {
                "not_relevant"
            }
            Ignored::Failed { .. } => "failed_call",
        }
    }
}

const LAMBDA: &str = "lambda.amazonaws.com";
const SCALING: &str = "application-autoscaling.amazonaws.com";

/// The longest string taken from an event (an ARN with a qualifier fits): longer ones are cut,
/// so no log line or reason carries more of a hostile event than this.
pub const MAX_EVENT_TEXT: usize = 256;

/// Parses one message body (the EventBridge envelope around a CloudTrail record).
pub fn parse(body: &str) -> Result<Touched, Ignored> {
    let v: Value = serde_json::from_str(body).map_err(|e| Ignored::Malformed(e.to_string()))?;
    let text = |v: &Value, k: &str| {
        v.get(k).and_then(Value::as_str).map(|s| s.chars().take(MAX_EVENT_TEXT).collect::<String>())
    };
    let kind = text(&v, "detail-type").ok_or_else(|| Ignored::Malformed("no detail-type".into()))?;
    if kind != "AWS API Call via CloudTrail" {
        return Err(Ignored::NotApiCall(kind));
    }
    let detail = v.get("detail").filter(|d| d.is_object()).ok_or_else(|| Ignored::Malformed("no detail".into()))?;
    let source = text(detail, "eventSource").ok_or_else(|| Ignored::Malformed("no detail.eventSource".into()))?;
    let name = text(detail, "eventName").ok_or_else(|| Ignored::Malformed("no detail.eventName".into()))?;
    let call = operation(&name);
    if detail.get("readOnly").and_then(Value::as_bool) == Some(true) || is_read(&call) {
        return Err(Ignored::ReadOnly(call));
    }
    if let Some(code) = text(detail, "errorCode") {
        return Err(Ignored::Failed { call, code });
    }
    let request = detail.get("requestParameters").unwrap_or(&Value::Null);
    let function = match source.as_str() {
        LAMBDA => {
            let response = detail.get("responseElements").unwrap_or(&Value::Null);
            ["functionName", "resource", "functionArn"]
                .iter()
                .find_map(|k| text(request, k))
                .or_else(|| text(response, "functionArn"))
        }
        SCALING if text(request, "serviceNamespace").as_deref() == Some("lambda") => {
            // resourceId "function:NAME:QUALIFIER".
            text(request, "resourceId").and_then(|r| r.strip_prefix("function:").map(str::to_string))
        }
        _ => return Err(Ignored::NotLambda(source)),
    };
    let raw = function.ok_or_else(|| Ignored::NoFunction(call.clone()))?;
    let account = text(&v, "account").or_else(|| text(detail, "recipientAccountId")).unwrap_or_default();
    let region = text(&v, "region").or_else(|| text(detail, "awsRegion")).unwrap_or_default();
    let (arn_account, function) = function_name(&raw);
    if function.is_empty() || region.is_empty() {
        return Err(Ignored::Malformed(format!("{call}: function {raw:?} in region {region:?}")));
    }
    let identity = detail.get("userIdentity").unwrap_or(&Value::Null);
    let caller = text(identity, "arn");
    let by = changed_by(identity, &call, text(detail, "eventTime").as_deref().unwrap_or(""));
    let scaling = source == SCALING;
    Ok(Touched { account: arn_account.unwrap_or(account), region, function, call, caller, by, scaling })
}

/// The principal of a `userIdentity`: its ARN; an AWS service (no ARN) by `invokedBy`; else its
/// principal id or account.
fn changed_by(identity: &Value, call: &str, at: &str) -> ChangedBy {
    let text = |k: &str| identity.get(k).and_then(Value::as_str);
    let kind = text("type").unwrap_or("Other");
    let who = text("arn").or(text("invokedBy")).or(text("principalId")).or(text("accountId")).unwrap_or("unknown");
    ChangedBy::new(kind, who, call, at)
}

/// The API operation of a CloudTrail event name: Lambda's names carry the API version as a
/// suffix (`PutFunctionConcurrency20171031`, `UpdateFunctionConfiguration20150331v2`), and the
/// suffixes change over time, so any trailing date (and `vN`) is dropped.
pub fn operation(event_name: &str) -> String {
    let versioned = event_name
        .rsplit_once('v')
        .filter(|(_, n)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        .and_then(|(head, _)| strip_date(head));
    versioned.or_else(|| strip_date(event_name)).unwrap_or(event_name).to_string()
}

/// `name` without a trailing 8-digit date, when it has one.
fn strip_date(name: &str) -> Option<&str> {
    let cut = name.len().checked_sub(8).filter(|&c| c > 0)?;
    let (head, date) = name.split_at_checked(cut)?;
    date.chars().all(|c| c.is_ascii_digit()).then_some(head)
}

/// The fields other calls than UpdateFunctionConfiguration write (their own API each).
const OTHER_CALLS_FIELDS: &[&str] = &[
    "aliases.",
    "reservedConcurrency",
    "tags",
    "code",
    "architectures",
    "functionUrls",
    "permissions",
    "eventSourceMappings",
    "eventInvokeConfig",
    "recursiveLoop",
    "runtimeManagement",
];

/// Whether `call` (an API operation) can change manifest field `field` (a plan's field path):
/// how a drift is matched to the change that made it.
pub fn may_change(call: &str, field: &str) -> bool {
    let alias_part = |part: &str| {
        field.strip_prefix("aliases.").and_then(|r| r.split_once('.')).is_some_and(|(_, rest)| rest.starts_with(part))
    };
    // A function URL's owned resource-policy statements (`functionUrls.Q.statement.SID`).
    let url_statement = field.starts_with("functionUrls.") && field.contains(".statement.");
    match call {
        "UpdateFunctionConfiguration" => !OTHER_CALLS_FIELDS.iter().any(|p| field.starts_with(p)),
        "UpdateFunctionCode" => field == "code" || field == "architectures",
        "PutFunctionRecursionConfig" => field == "recursiveLoop",
        "PutRuntimeManagementConfig" => field.starts_with("runtimeManagement"),
        "PutFunctionCodeSigningConfig" | "DeleteFunctionCodeSigningConfig" => field == "codeSigningConfigArn",
        "CreateFunctionUrlConfig" | "UpdateFunctionUrlConfig" | "DeleteFunctionUrlConfig" => {
            field.starts_with("functionUrls") && !url_statement
        }
        "PutFunctionConcurrency" | "DeleteFunctionConcurrency" => field == "reservedConcurrency",
        "CreateAlias" | "UpdateAlias" | "DeleteAlias" => {
            field.starts_with("aliases.")
                && !alias_part("provisionedConcurrency")
                && !alias_part("autoscaling")
                && !alias_part("eventInvokeConfig")
        }
        "PutProvisionedConcurrencyConfig" | "DeleteProvisionedConcurrencyConfig" => {
            alias_part("provisionedConcurrency")
        }
        "PutFunctionEventInvokeConfig" | "UpdateFunctionEventInvokeConfig" | "DeleteFunctionEventInvokeConfig" => {
            field.starts_with("eventInvokeConfig") || alias_part("eventInvokeConfig")
        }
        "AddPermission" | "RemovePermission" => field.starts_with("permissions") || url_statement,
        "CreateEventSourceMapping" | "UpdateEventSourceMapping" | "DeleteEventSourceMapping" => {
            field.starts_with("eventSourceMappings")
        }
        "TagResource" | "UntagResource" => field.starts_with("tags"),
        c if c.contains("Scal") => alias_part("autoscaling") || alias_part("provisionedConcurrency"),
        c => field
            .split('.')
            .next()
            .is_some_and(|head| !head.is_empty() && c.to_lowercase().contains(&head.to_lowercase())),
    }
}

fn is_read(call: &str) -> bool {
    ["Get", "List", "Describe"].iter().any(|p| call.starts_with(p))
}

/// The function name (and the account, when an ARN names one) of what a caller sent: `NAME`,
/// `NAME:QUALIFIER`, `ACCOUNT:function:NAME[:Q]` or `arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:Q]`.
pub fn function_name(raw: &str) -> (Option<String>, String) {
    let parts: Vec<&str> = raw.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", _, account, "function", name, ..] => (Some(account.to_string()), name.to_string()),
        [account, "function", name, ..] => (Some(account.to_string()), name.to_string()),
        [name, ..] => (None, name.to_string()),
        [] => (None, String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(source: &str, name: &str, request: Value) -> String {
        serde_json::json!({
            "version": "0", "id": "e1", "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.lambda", "account": "111122223333", "region": "ap-northeast-1",
            "detail": {
                "eventVersion": "1.09", "eventSource": source, "eventName": name,
                "awsRegion": "ap-northeast-1", "readOnly": false,
                "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"},
                "requestParameters": request
            }
        })
        .to_string()
    }

    #[test]
    fn event_names_lose_their_api_version_suffix() {
        assert_eq!(operation("UpdateAlias20150331"), "UpdateAlias");
        assert_eq!(operation("PutFunctionConcurrency20171031"), "PutFunctionConcurrency");
        assert_eq!(operation("UpdateFunctionConfiguration20150331v2"), "UpdateFunctionConfiguration");
        assert_eq!(operation("RegisterScalableTarget"), "RegisterScalableTarget");
        assert_eq!(operation("PutScalingPolicy"), "PutScalingPolicy");
        assert_eq!(operation("S3v2"), "S3v2", "a short number is part of the name");
    }

    #[test]
    fn a_lambda_call_names_its_function_by_name_or_arn_without_qualifier() {
        let t =
            parse(&event(LAMBDA, "UpdateAlias20150331", serde_json::json!({"functionName": "orders", "name": "live"})))
                .unwrap();
        assert_eq!(
            t,
            Touched {
                account: "111122223333".into(),
                region: "ap-northeast-1".into(),
                function: "orders".into(),
                call: "UpdateAlias".into(),
                caller: Some("arn:aws:iam::111122223333:user/alice".into()),
                by: ChangedBy::new("IAMUser", "arn:aws:iam::111122223333:user/alice", "UpdateAlias", ""),
                scaling: false,
            }
        );
        for raw in ["arn:aws:lambda:ap-northeast-1:444455556666:function:orders:live", "444455556666:function:orders"] {
            let t = parse(&event(LAMBDA, "PutFunctionConcurrency20171031", serde_json::json!({"functionName": raw})))
                .unwrap();
            assert_eq!((t.function.as_str(), t.account.as_str()), ("orders", "444455556666"));
        }
        let t = parse(&event(
            LAMBDA,
            "UpdateFunctionConfiguration20150331v2",
            serde_json::json!({"functionName": "orders:7"}),
        ))
        .unwrap();
        assert_eq!(t.function, "orders");
    }

    #[test]
    fn the_principal_is_named_for_a_user_an_assumed_role_and_an_aws_service() {
        let mut v: Value =
            serde_json::from_str(&event(LAMBDA, "UpdateAlias20150331", serde_json::json!({"functionName": "f"})))
                .unwrap();
        v["detail"]["eventTime"] = "2026-12-04T10:00:00Z".into();
        let by = |v: &Value| parse(&v.to_string()).unwrap().by;
        assert_eq!(
            by(&v).describe(),
            "arn:aws:iam::111122223333:user/alice (IAMUser) with UpdateAlias at 2026-12-04T10:00:00Z"
        );
        v["detail"]["userIdentity"] = serde_json::json!({"type": "AssumedRole",
            "arn": "arn:aws:sts::111122223333:assumed-role/ops/bob",
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/ops"}}});
        assert_eq!(
            (by(&v).principal_type.as_str(), by(&v).principal.as_str()),
            ("AssumedRole", "arn:aws:sts::111122223333:assumed-role/ops/bob")
        );
        v["detail"]["userIdentity"] =
            serde_json::json!({"type": "AWSService", "invokedBy": "application-autoscaling.amazonaws.com"});
        assert_eq!(
            (by(&v).principal_type.as_str(), by(&v).principal.as_str()),
            ("AWSService", "application-autoscaling.amazonaws.com")
        );
    }

    #[test]
    fn a_drifted_field_is_matched_to_the_call_that_can_change_it() {
        assert!(may_change("UpdateFunctionConfiguration", "environment.variables.LEVEL"));
        assert!(may_change("UpdateFunctionConfiguration", "memorySize"));
        assert!(!may_change("UpdateFunctionConfiguration", "reservedConcurrency"));
        assert!(may_change("PutFunctionConcurrency", "reservedConcurrency"));
        assert!(may_change("UpdateAlias", "aliases.live.routing"));
        assert!(!may_change("UpdateAlias", "aliases.live.provisionedConcurrency"));
        assert!(may_change("PutProvisionedConcurrencyConfig", "aliases.live.provisionedConcurrency"));
        assert!(may_change("RegisterScalableTarget", "aliases.live.autoscaling"));
        assert!(may_change("UpdateFunctionCode", "code"));
        assert!(!may_change("UpdateFunctionCode", "memorySize"));
    }

    #[test]
    fn a_drift_of_the_fields_issue_28_added_is_matched_to_its_own_call_and_never_to_a_configuration_update() {
        for (call, field) in [
            ("PutFunctionRecursionConfig", "recursiveLoop"),
            ("PutRuntimeManagementConfig", "runtimeManagement"),
            ("PutFunctionCodeSigningConfig", "codeSigningConfigArn"),
            ("DeleteFunctionCodeSigningConfig", "codeSigningConfigArn"),
            ("CreateFunctionUrlConfig", "functionUrls.prod"),
            ("UpdateFunctionUrlConfig", "functionUrls.$LATEST"),
            ("DeleteFunctionUrlConfig", "functionUrls.prod"),
            ("RemovePermission", "functionUrls.prod.statement.lambda-reconciler-url"),
            ("AddPermission", "functionUrls.prod.statement.lambda-reconciler-url-invoke"),
            ("UpdateFunctionConfiguration", "runtime"),
            ("UpdateFunctionConfiguration", "vpcConfig"),
        ] {
            assert!(may_change(call, field), "{call} changes {field}");
        }
        for field in [
            "tags.team",
            "code",
            "architectures",
            "functionUrls.prod",
            "functionUrls.prod.statement.lambda-reconciler-url",
            "eventInvokeConfig.maximumRetryAttempts",
            "eventSourceMappings[arn:aws:sqs:us-east-1:1:q@live]",
            "permissions.ci",
            "recursiveLoop",
            "runtimeManagement",
            "codeSigningConfigArn",
        ] {
            assert!(
                !may_change("UpdateFunctionConfiguration", field),
                "UpdateFunctionConfiguration cannot change {field}"
            );
        }
        assert!(!may_change("CreateFunctionUrlConfig", "functionUrls.prod.statement.lambda-reconciler-url"));
    }

    #[test]
    fn a_huge_field_of_a_hostile_event_is_cut_in_the_reason() {
        let mut v: Value = serde_json::from_str(&event(LAMBDA, "UpdateAlias20150331", Value::Null)).unwrap();
        v["detail-type"] = "x".repeat(100_000).into();
        let why = parse(&v.to_string()).unwrap_err().to_string();
        assert!(why.len() < MAX_EVENT_TEXT + 64, "{} characters", why.len());
    }

    #[test]
    fn tag_and_mapping_calls_name_the_function_by_resource_or_response() {
        let arn = "arn:aws:lambda:ap-northeast-1:111122223333:function:orders";
        let t = parse(&event(LAMBDA, "TagResource20170331v2", serde_json::json!({"resource": arn}))).unwrap();
        assert_eq!(t.function, "orders");
        let mut v: Value =
            serde_json::from_str(&event(LAMBDA, "UpdateEventSourceMapping20150331", serde_json::json!({"uUID": "u"})))
                .unwrap();
        v["detail"]["responseElements"] = serde_json::json!({"functionArn": arn});
        assert_eq!(parse(&v.to_string()).unwrap().function, "orders");
    }

    #[test]
    fn a_scaling_call_names_the_function_of_its_resource_id() {
        let req = serde_json::json!({"serviceNamespace": "lambda", "resourceId": "function:orders:live",
            "scalableDimension": "lambda:function:ProvisionedConcurrency"});
        let t = parse(&event(SCALING, "RegisterScalableTarget", req)).unwrap();
        assert_eq!((t.function.as_str(), t.call.as_str(), t.scaling), ("orders", "RegisterScalableTarget", true));
        let ecs = serde_json::json!({"serviceNamespace": "ecs", "resourceId": "service/c/s"});
        assert_eq!(parse(&event(SCALING, "RegisterScalableTarget", ecs)), Err(Ignored::NotLambda(SCALING.into())));
    }

    #[test]
    fn reads_failed_calls_other_sources_and_garbage_are_ignored_with_a_reason() {
        let read = parse(&event(LAMBDA, "GetFunction20150331v2", serde_json::json!({"functionName": "f"})));
        assert_eq!(read, Err(Ignored::ReadOnly("GetFunction".into())));
        let mut v: Value =
            serde_json::from_str(&event(LAMBDA, "UpdateAlias20150331", serde_json::json!({"functionName": "f"})))
                .unwrap();
        v["detail"]["errorCode"] = "ResourceNotFoundException".into();
        assert_eq!(parse(&v.to_string()).unwrap_err().label(), "failed_call");
        assert_eq!(parse(&event("s3.amazonaws.com", "PutObject", Value::Null)).unwrap_err().label(), "not_relevant");
        assert_eq!(parse("{not json").unwrap_err().label(), "malformed");
        assert_eq!(parse("[1,2]").unwrap_err().label(), "malformed");
        assert_eq!(
            parse(r#"{"detail-type":"AWS API Call via CloudTrail","detail":7}"#).unwrap_err().label(),
            "malformed"
        );
        let none = parse(&event(LAMBDA, "UpdateEventSourceMapping20150331", serde_json::json!({"uUID": "u"})));
        assert_eq!(none.unwrap_err().label(), "not_relevant");
        let empty = parse(&event(LAMBDA, "UpdateAlias20150331", serde_json::json!({"functionName": ""})));
        assert_eq!(empty.unwrap_err().label(), "malformed");
    }
}

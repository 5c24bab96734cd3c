"""Real-AWS smoke test helper for scripts/smoke-aws: creates the hands-on guide's resources, and a
second function for a release (publish on change, a two-step rollout watched by a CloudWatch
alarm, a setting, an SQS event source mapping, a permission, a Secrets Manager value), under a
unique name prefix with the default credential chain, and removes everything it created.

Usage: smoke_aws.py create PREFIX REGION MANIFEST_DIR | cleanup PREFIX REGION | drift PREFIX REGION
       | release PREFIX REGION MANIFEST_DIR | check PREFIX REGION LIVE_VERSION
Never run by CI: it talks to a real account.
"""

import io
import json
import secrets
import sys
import time
import zipfile

import boto3
from botocore.exceptions import ClientError

POLICIES = ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            # The mapping: Lambda reads the queue with the execution role ("sqs:ReceiveMessage,
            # sqs:DeleteMessage, sqs:GetQueueAttributes", with-sqs).
            "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"]
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def code(version):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", f"def handler(event, context):\n    return {{'version': '{version}'}}\n")
    return buf.getvalue()


def wait_updated(lam, name):
    for _ in range(120):
        c = lam.get_function(FunctionName=name)["Configuration"]
        if c.get("State") == "Active" and c.get("LastUpdateStatus") != "InProgress":
            return
        time.sleep(1)
    raise SystemExit(f"{name} did not become Active")


def create_function(lam, name, role):
    for attempt in range(30):  # a new role takes a few seconds before Lambda may assume it
        try:
            lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=role,
                                Code={"ZipFile": code(1)}, Timeout=10, MemorySize=128)
            break
        except ClientError as e:
            if "cannot be assumed" not in str(e) or attempt == 29:
                raise
            time.sleep(2)
    wait_updated(lam, name)


def queue_arn(sqs, name):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def create(prefix, region, manifest_dir):
    iam, lam = boto3.client("iam", region_name=region), boto3.client("lambda", region_name=region)
    sqs, ssm = boto3.client("sqs", region_name=region), boto3.client("ssm", region_name=region)
    role = iam.create_role(RoleName=prefix, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    for policy in POLICIES:
        iam.attach_role_policy(RoleName=prefix, PolicyArn=policy)
    create_function(lam, prefix, role)
    lam.publish_version(FunctionName=prefix)
    lam.update_function_code(FunctionName=prefix, ZipFile=code(2))
    wait_updated(lam, prefix)
    lam.publish_version(FunctionName=prefix)
    queues = {q: queue_arn(sqs, f"{prefix}-{q}") for q in ("success", "failure")}
    ssm.put_parameter(Name=f"/{prefix}/db_host", Type="String", Value="db.example.com", Overwrite=True)
    ssm.put_parameter(Name=f"/{prefix}/db_password", Type="SecureString", Value=f"{prefix}-secret", Overwrite=True)
    manifest = f"""apiVersion: lambda-reconciler.io/v1alpha1
kind: FunctionConfig
metadata:
  name: {prefix}
spec:
  functionName: {prefix}
  region: {region}
  driftPolicy: alert
  environment:
    variables:
      LOG_LEVEL: DEBUG
      DB_HOST: {{fromSsm: /{prefix}/db_host}}
      DB_PASSWORD: {{fromSsm: /{prefix}/db_password}}
  reservedConcurrency: 3
  eventInvokeConfig:
    maximumRetryAttempts: 1
  aliases:
    prod:
      functionVersion: "1"
      description: Production alias
      routing: {{"2": 0.1}}
      eventInvokeConfig:
        maximumEventAgeInSeconds: 600
        destinations: {{onSuccess: "{queues['success']}", onFailure: "{queues['failure']}"}}
    live:
      functionVersion: "2"
      provisionedConcurrency: 1
      autoscaling:
        minCapacity: 1
        maxCapacity: 2
        targetUtilization: 0.7
        scheduledActions:
          - {{name: {prefix}-morning, schedule: "cron(0 9 * * ? *)", minCapacity: 1, maxCapacity: 2}}
"""
    with open(f"{manifest_dir}/{prefix}.yaml", "w") as f:
        f.write(manifest)
    create_release(prefix, region, manifest_dir, role)


def create_release(prefix, region, manifest_dir, role):
    """The release function: published on change, rolled out to `live` in two steps watched by an
    alarm, with a setting, an SQS mapping, a permission and a Secrets Manager value."""
    lam, sqs = boto3.client("lambda", region_name=region), boto3.client("sqs", region_name=region)
    name = f"{prefix}-rel"
    create_function(lam, name, role)
    source = queue_arn(sqs, f"{prefix}-in")
    boto3.client("secretsmanager", region_name=region).create_secret(
        Name=f"{prefix}/api-token", SecretString=secrets.token_hex(16))
    # Missing data is not breaching: the alarm stays out of ALARM while nothing fails.
    boto3.client("cloudwatch", region_name=region).put_metric_alarm(
        AlarmName=f"{prefix}-errors", Namespace="AWS/Lambda", MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": name}], Statistic="Sum", Period=60, EvaluationPeriods=1,
        Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching")
    manifest = f"""apiVersion: lambda-reconciler.io/v1alpha1
kind: FunctionConfig
metadata:
  name: {name}
spec:
  functionName: {name}
  region: {region}
  publish: onChange
  memorySize: 256
  description: smoke release
  environment:
    variables:
      API_TOKEN: {{fromSecret: {{id: {prefix}/api-token}}}}
  permissions:
    events:
      principal: events.amazonaws.com
  eventSourceMappings:
    - source: {source}
      batchSize: 5
  aliases:
    live:
      functionVersion: published
      deployment:
        steps: [{{weight: 10, pause: 20s}}, {{weight: 50, pause: 20s}}]
        alarms: [{prefix}-errors]
"""
    with open(f"{manifest_dir}/{name}.yaml", "w") as f:
        f.write(manifest)


def release(prefix, manifest_dir):
    """A reviewed change of a setting: the next apply publishes it and rolls `live` out to it."""
    path = f"{manifest_dir}/{prefix}-rel.yaml"
    with open(path) as f:
        text = f.read()
    if "memorySize: 256" not in text:
        raise SystemExit(f"{path}: no memorySize to change")
    with open(path, "w") as f:
        f.write(text.replace("memorySize: 256", "memorySize: 320"))


def check(prefix, region, live_version):
    """The release function on AWS as the manifest says, `live` on `live_version` with no weights;
    the secret's value compared, never printed."""
    lam, name = boto3.client("lambda", region_name=region), f"{prefix}-rel"
    failures = []
    alias = lam.get_alias(FunctionName=name, Name="live")
    if alias["FunctionVersion"] != live_version or (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights"):
        failures.append(f"alias live is on {alias['FunctionVersion']} with {alias.get('RoutingConfig')}, "
                        f"not on {live_version} alone")
    conf = lam.get_function_configuration(FunctionName=name, Qualifier=live_version)
    token = boto3.client("secretsmanager", region_name=region).get_secret_value(
        SecretId=f"{prefix}/api-token")["SecretString"]
    if (conf.get("Environment") or {}).get("Variables", {}).get("API_TOKEN") != token:
        failures.append(f"version {live_version}'s API_TOKEN is not the secret's value")
    if conf["MemorySize"] != (256 if live_version == "1" else 320):
        failures.append(f"version {live_version} has memorySize {conf['MemorySize']}")
    mappings = lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
    if [m["BatchSize"] for m in mappings] != [5]:
        failures.append(f"mappings: {[(m['EventSourceArn'], m['BatchSize']) for m in mappings]}")
    policy = json.loads(lam.get_policy(FunctionName=name)["Policy"])
    if "lambda-reconciler-events" not in [st["Sid"] for st in policy["Statement"]]:
        failures.append("no statement lambda-reconciler-events in the function's policy")
    if failures:
        raise SystemExit("smoke-aws: " + "; ".join(failures))


def drift(prefix, region):
    boto3.client("lambda", region_name=region).put_function_concurrency(
        FunctionName=prefix, ReservedConcurrentExecutions=2)


def quietly(what, f, **kw):
    """Runs one removal; what is already gone is fine, any other failure is reported and the
    cleanup goes on with the next removal."""
    try:
        f(**kw)
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        if code not in ("ResourceNotFoundException", "NoSuchEntity", "ObjectNotFoundException", "ParameterNotFound",
                        "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            print(f"cleanup: {what}: {code}", file=sys.stderr)
    except Exception as e:  # noqa: BLE001 - a cleanup step never stops the ones after it
        print(f"cleanup: {what}: {type(e).__name__}: {e}", file=sys.stderr)


def delete_queue(sqs, name):
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"])


def delete_mappings(lam, sqs, queue):
    """The mappings reading `queue` (a function's deletion leaves its mappings behind)."""
    try:
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    except ClientError:
        return
    for m in lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]:
        quietly("event source mapping", lam.delete_event_source_mapping, UUID=m["UUID"])


def cleanup(prefix, region):
    """Removes everything create made, whatever step it reached; reports what it could not remove."""
    aas = boto3.client("application-autoscaling", region_name=region)
    lam, iam = boto3.client("lambda", region_name=region), boto3.client("iam", region_name=region)
    sqs, ssm = boto3.client("sqs", region_name=region), boto3.client("ssm", region_name=region)
    quietly("scalable target", aas.deregister_scalable_target, ServiceNamespace="lambda",
            ResourceId=f"function:{prefix}:live", ScalableDimension="lambda:function:ProvisionedConcurrency")
    quietly("mappings", delete_mappings, lam=lam, sqs=sqs, queue=f"{prefix}-in")
    for name in (prefix, f"{prefix}-rel"):
        quietly("function", lam.delete_function, FunctionName=name)
    for q in ("success", "failure", "in"):
        quietly("queue", delete_queue, sqs=sqs, name=f"{prefix}-{q}")
    quietly("parameters", ssm.delete_parameters, Names=[f"/{prefix}/db_host", f"/{prefix}/db_password"])
    quietly("secret", boto3.client("secretsmanager", region_name=region).delete_secret,
            SecretId=f"{prefix}/api-token", ForceDeleteWithoutRecovery=True)
    quietly("alarm", boto3.client("cloudwatch", region_name=region).delete_alarms, AlarmNames=[f"{prefix}-errors"])
    for policy in POLICIES:
        quietly("role policy", iam.detach_role_policy, RoleName=prefix, PolicyArn=policy)
    quietly("role", iam.delete_role, RoleName=prefix)


if __name__ == "__main__":
    cmd, prefix, region = sys.argv[1], sys.argv[2], sys.argv[3]
    {"create": lambda: create(prefix, region, sys.argv[4]), "drift": lambda: drift(prefix, region),
     "cleanup": lambda: cleanup(prefix, region), "release": lambda: release(prefix, sys.argv[4]),
     "check": lambda: check(prefix, region, sys.argv[4])}[cmd]()

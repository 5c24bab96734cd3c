"""Creates the hands-on guide's resources (section 10.1-10.5) in a running emulator with boto3.

Usage: python tests/emulator/seed.py --endpoint http://127.0.0.1:PORT [--region ap-northeast-1]
Also imported by server.py for its /_ext/seed/function endpoint.
"""

import argparse
import io
import json
import time
import zipfile

import boto3

CREDS = dict(aws_access_key_id="AKIDEMULATOR", aws_secret_access_key="emulator-secret")
ROLE = "lambda-handson-role"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def client(service, endpoint, region, creds=None):
    return boto3.client(service, endpoint_url=endpoint, region_name=region, **(creds or CREDS))


def assumed(endpoint, region, role):
    """Credentials of `role` (in its own account), from the emulator's STS."""
    c = client("sts", endpoint, region).assume_role(RoleArn=role, RoleSessionName="seed")["Credentials"]
    return dict(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                aws_session_token=c["SessionToken"])


def code(version):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(f"lambda-v{version}.py",
                   f"import json\ndef handler(event, context):\n    return {{'statusCode': 200, 'body': json.dumps({{'version': '{version}.0.0'}})}}\n")
    return buf.getvalue()


def events(endpoint, region, name, through_role=None):
    """The events queue of manifests/deploy/cloudformation/events.yaml: the queue, and its rules
    with the template's own event patterns, targeting it; in the account of `through_role` when
    given. Returns the queue URL."""
    import os

    import yaml

    creds = assumed(endpoint, region, through_role) if through_role else CREDS
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    with open(os.path.join(root, "manifests", "deploy", "cloudformation", "events.yaml")) as f:
        template = yaml.safe_load(f)
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=region, **creds)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    ev = boto3.client("events", endpoint_url=endpoint, region_name=region, **creds)
    for rid, res in template["Resources"].items():
        if res["Type"] == "AWS::Events::Rule":
            rule = f"{name}-{rid}"
            ev.put_rule(Name=rule, EventPattern=json.dumps(res["Properties"]["EventPattern"]), State="ENABLED")
            ev.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": arn}])
    return url


# What AWSLambdaSQSQueueExecutionRole grants: an execution role that may consume SQS queues (the
# emulator refuses an SQS mapping for a role without it, as Lambda does).
SQS_CONSUMER = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
    "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]}]})


def role_arn(endpoint, region, creds=None):
    iam = client("iam", endpoint, region, creds)
    try:
        return iam.get_role(RoleName=ROLE)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        arn = iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        iam.put_role_policy(RoleName=ROLE, PolicyName="sqs-consumer", PolicyDocument=SQS_CONSUMER)
        return arn


def wait_updated(lam, name):
    """Until the function is Active (a new one is Pending) and its last update is not InProgress."""
    for _ in range(400):
        conf = lam.get_function(FunctionName=name)["Configuration"]
        if conf.get("LastUpdateStatus") != "InProgress" and conf.get("State") != "Pending":
            return
        time.sleep(0.02)


def function(endpoint, region, name, versions=2, through_role=None):
    """Creates `name` with published versions 1..versions (distinct code each), like section 10.1;
    in the account of `through_role` when given (assuming it)."""
    creds = assumed(endpoint, region, through_role) if through_role else None
    lam = client("lambda", endpoint, region, creds)
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="lambda-v1.handler",
                        Role=role_arn(endpoint, region, creds), Code={"ZipFile": code(1)}, Timeout=30, MemorySize=256)
    wait_updated(lam, name)
    for v in range(1, versions + 1):
        if v > 1:
            lam.update_function_code(FunctionName=name, ZipFile=code(v))
            wait_updated(lam, name)
        lam.publish_version(FunctionName=name, Description=f"v{v}.0.0")
    return lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]


def image_function(endpoint, region, name, image_uri):
    """Creates `name` as a container-image function (PackageType Image) from `image_uri`."""
    lam = client("lambda", endpoint, region)
    lam.create_function(FunctionName=name, Role=role_arn(endpoint, region), Code={"ImageUri": image_uri},
                        PackageType="Image", Timeout=30, MemorySize=256)
    wait_updated(lam, name)
    return lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]


def queue(endpoint, region, name):
    """Creates SQS queue `name`; returns its ARN."""
    sqs = client("sqs", endpoint, region)
    # SQS CreateQueue: "FifoQueue – Designates a queue as FIFO"; a FIFO queue's name ends in .fifo.
    attributes = {"FifoQueue": "true"} if name.endswith(".fifo") else {}
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def layer(endpoint, region, name):
    """Publishes a version of layer `name`; returns its LayerVersionArn."""
    lam = client("lambda", endpoint, region)
    return lam.publish_layer_version(LayerName=name, Content={"ZipFile": code(1)},
                                     CompatibleRuntimes=["python3.12"])["LayerVersionArn"]


def handson(endpoint, region):
    function(endpoint, region, "handson-function", 2)
    sqs = client("sqs", endpoint, region)
    for q in ("lambda-success-queue", "lambda-failure-queue"):
        sqs.create_queue(QueueName=q)
    ssm = client("ssm", endpoint, region)
    ssm.put_parameter(Name="/handson/lambda/db_host", Type="String", Value="mydb.example.com", Overwrite=True)
    ssm.put_parameter(Name="/handson/lambda/db_password", Type="SecureString",
                      Value="super-secret-password-123", Overwrite=True)


def payments(endpoint, region):
    """The progressive-delivery example's function (manifests/examples/canary-function.yaml,
    versions 1..7) and the demo's app-checkout (versions 1..3) with its hooks and alarms."""
    function(endpoint, region, "app-payments", 7)
    function(endpoint, region, "app-checkout", 3)
    function(endpoint, region, "app-orders", 1)  # manifests/examples/publish-function.yaml
    for hook in ("app-checkout-pre-hook", "app-checkout-post-hook"):
        function(endpoint, region, hook, 1)
    cw = client("cloudwatch", endpoint, region)
    for alarm in ("app-checkout-errors", "app-checkout-p99-latency"):
        cw.put_metric_alarm(AlarmName=alarm, Namespace="AWS/Lambda", MetricName="Errors", Statistic="Sum",
                            Period=60, EvaluationPeriods=1, Threshold=1,
                            ComparisonOperator="GreaterThanOrEqualToThreshold")
        cw.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="seeded")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--region", default="ap-northeast-1")
    a = p.parse_args()
    handson(a.endpoint, a.region)
    payments(a.endpoint, a.region)
    print("seeded handson-function (versions 1, 2), SQS queues and SSM parameters; "
          "app-payments (versions 1-7); app-orders (version 1); app-checkout (versions 1-3), its hooks and alarms")

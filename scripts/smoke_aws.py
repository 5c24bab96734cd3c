"""Real-AWS smoke test helper for scripts/smoke-aws: creates the hands-on guide's resources under a
unique name prefix with the default credential chain, and removes everything it created.

Usage: smoke_aws.py create PREFIX REGION MANIFEST_DIR | cleanup PREFIX REGION | drift PREFIX REGION
Never run by CI: it talks to a real account.
"""

import io
import json
import sys
import time
import zipfile

import boto3
from botocore.exceptions import ClientError

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


def create(prefix, region, manifest_dir):
    iam, lam = boto3.client("iam"), boto3.client("lambda", region_name=region)
    sqs, ssm = boto3.client("sqs", region_name=region), boto3.client("ssm", region_name=region)
    role = iam.create_role(RoleName=prefix, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.attach_role_policy(RoleName=prefix, PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
    for attempt in range(30):  # a new role takes a few seconds before Lambda may assume it
        try:
            lam.create_function(FunctionName=prefix, Runtime="python3.12", Handler="app.handler", Role=role,
                                Code={"ZipFile": code(1)}, Timeout=10, MemorySize=128)
            break
        except ClientError as e:
            if "cannot be assumed" not in str(e) or attempt == 29:
                raise
            time.sleep(2)
    wait_updated(lam, prefix)
    lam.publish_version(FunctionName=prefix)
    lam.update_function_code(FunctionName=prefix, ZipFile=code(2))
    wait_updated(lam, prefix)
    lam.publish_version(FunctionName=prefix)
    queues = {q: sqs.get_queue_attributes(QueueUrl=sqs.create_queue(QueueName=f"{prefix}-{q}")["QueueUrl"],
                                          AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
              for q in ("success", "failure")}
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


def drift(prefix, region):
    boto3.client("lambda", region_name=region).put_function_concurrency(
        FunctionName=prefix, ReservedConcurrentExecutions=2)


def quietly(what, f, **kw):
    try:
        f(**kw)
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        if code not in ("ResourceNotFoundException", "NoSuchEntity", "ObjectNotFoundException", "ParameterNotFound",
                        "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            print(f"cleanup: {what}: {code}", file=sys.stderr)


def cleanup(prefix, region):
    aas = boto3.client("application-autoscaling", region_name=region)
    lam, iam = boto3.client("lambda", region_name=region), boto3.client("iam")
    sqs, ssm = boto3.client("sqs", region_name=region), boto3.client("ssm", region_name=region)
    quietly("scalable target", aas.deregister_scalable_target, ServiceNamespace="lambda",
            ResourceId=f"function:{prefix}:live", ScalableDimension="lambda:function:ProvisionedConcurrency")
    quietly("function", lam.delete_function, FunctionName=prefix)
    for q in ("success", "failure"):
        try:
            sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=f"{prefix}-{q}")["QueueUrl"])
        except ClientError:
            pass
    quietly("parameters", ssm.delete_parameters, Names=[f"/{prefix}/db_host", f"/{prefix}/db_password"])
    quietly("role policy", iam.detach_role_policy, RoleName=prefix,
            PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
    quietly("role", iam.delete_role, RoleName=prefix)


if __name__ == "__main__":
    cmd, prefix, region = sys.argv[1], sys.argv[2], sys.argv[3]
    {"create": lambda: create(prefix, region, sys.argv[4]), "drift": lambda: drift(prefix, region),
     "cleanup": lambda: cleanup(prefix, region)}[cmd]()

"""Lambda function settings moto's UpdateFunctionConfiguration ignores (and the definition moto
stores unchecked: Runtime, Handler, Role, VpcConfig; or ignores: FileSystemConfigs, SnapStart,
ImageConfig) (measured, moto 5.2.5: a
read returns PassThrough / null / 512 after an update of TracingConfig, DeadLetterConfig,
LoggingConfig, EphemeralStorage or KMSKeyArn), stored on moto's function object so versions
published from $LATEST keep them, with AWS's validation of every setting, and a scripted
LastUpdateStatus Failed."""

import json
import re

import time

import botocore.session
from moto.ec2.models import ec2_backends
from moto.iam.models import iam_backends

import iam
from common import CONFIG, STATE, ApiError, account

# Lambda quotas ("Memory: 128 MB to 10,240 MB"; "Function timeout: 900 seconds (15 minutes)";
# "Function /tmp directory storage: between 512 MB and 10,240 MB"; "Layers: five layers").
MEMORY = (128, 10240)
TIMEOUT = (1, 900)
EPHEMERAL = (512, 10240)
MAX_LAYERS = 5
LAYER_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+$")
KMS_ARN = re.compile(r"^(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)?$")  # KMSKeyArn's model pattern
LOG_GROUP = re.compile(r"^[\.\-_/#A-Za-z0-9]{1,512}$")
APP_LEVELS = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}
SYSTEM_LEVELS = {"DEBUG", "INFO", "WARN"}


_MODEL = botocore.session.get_session().get_service_model("lambda")
# The model's Runtime enum, Handler (0-128, `[^\s]+`) and RoleArn pattern.
RUNTIMES = list(_MODEL.shape_for("Runtime").enum)
HANDLER = re.compile(r"^[^\s]{1,128}$")
ROLE_ARN = re.compile(r"^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")


SUBNET = re.compile(r"^subnet-[0-9a-z]*$")
SECURITY_GROUP = re.compile(r"^sg-[0-9a-zA-Z]*$")
# FileSystemArn (EFS access points) and LocalMountPath, the model's patterns.
ACCESS_POINT = re.compile(r"^arn:aws[a-zA-Z-]*:elasticfilesystem:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:"
                          r"\d{12}:access-point/fsap-[a-f0-9]{17}$")
MOUNT_PATH = re.compile(r"^/mnt/[a-zA-Z0-9-_.]+$")
# snapstart.html: "Java 11 and later", "Python 3.12 and later", ".NET 8 and later".
SNAP_START_RUNTIME = re.compile(r"^(java(1[1-9]|[2-9][0-9])(\.al2023)?|python3\.(1[2-9])|dotnet([89]|[1-9][0-9]))$")


def invalid(message):
    return ApiError(400, "InvalidParameterValueException", message)


def check(body):
    """AWS's refusals of UpdateFunctionConfiguration's settings (quoted per rule)."""
    def in_range(key, value, bounds):
        if value is not None and not bounds[0] <= int(value) <= bounds[1]:
            raise invalid(f"'{key}' value failed to satisfy constraint: Member must have value between "
                          f"{bounds[0]} and {bounds[1]}")
    in_range("MemorySize", body.get("MemorySize"), MEMORY)
    in_range("Timeout", body.get("Timeout"), TIMEOUT)
    in_range("EphemeralStorage.Size", (body.get("EphemeralStorage") or {}).get("Size"), EPHEMERAL)
    if len(body.get("Description") or "") > 256:
        raise invalid("'Description' value failed to satisfy constraint: Member must have length less than or equal to 256")
    layers = body.get("Layers")
    if layers is not None:
        if len(layers) > MAX_LAYERS:
            raise invalid(f"Cannot reference more than {MAX_LAYERS} layers.")
        for arn in layers:
            if not LAYER_ARN.match(arn):
                raise ApiError(400, "ValidationException", f"1 validation error detected: Value '{arn}' at 'layers' "
                               "failed to satisfy constraint: Member must satisfy regular expression pattern")
        names = [a.rsplit(":", 1)[0] for a in layers]
        if len(set(names)) != len(names):
            raise invalid("Two different versions of the same layer are not allowed to be referenced in the same function.")
    mode = (body.get("TracingConfig") or {}).get("Mode")
    if mode is not None and mode not in ("Active", "PassThrough"):
        raise ApiError(400, "ValidationException", f"Value '{mode}' at 'tracingConfig.mode' failed to satisfy constraint")
    target = (body.get("DeadLetterConfig") or {}).get("TargetArn")
    if target and not re.match(r"^arn:aws[a-zA-Z-]*:(sqs|sns):", target):
        # DeadLetterConfig: "The Amazon Resource Name (ARN) of an Amazon SQS queue or Amazon SNS topic."
        raise invalid(f"The provided target ARN {target} is not an SQS queue or SNS topic.")
    kms = body.get("KMSKeyArn")
    if kms is not None and not KMS_ARN.match(kms):
        raise ApiError(400, "ValidationException", "Value at 'kMSKeyArn' failed to satisfy constraint")
    logging = body.get("LoggingConfig")
    if logging is not None:
        fmt = logging.get("LogFormat")
        if fmt is not None and fmt not in ("JSON", "Text"):
            raise ApiError(400, "ValidationException", f"Value '{fmt}' at 'loggingConfig.logFormat' failed to satisfy constraint")
        app, system = logging.get("ApplicationLogLevel"), logging.get("SystemLogLevel")
        if (app is not None and app not in APP_LEVELS) or (system is not None and system not in SYSTEM_LEVELS):
            raise ApiError(400, "ValidationException", "Value at 'loggingConfig' failed to satisfy enum value set")
        # ApplicationLogLevel/SystemLogLevel: "To use this option, your function must use
        # structured JSON logging format (LogFormat JSON)"; Lambda developer guide, Log-level
        # filtering (monitoring-cloudwatchlogs-log-level): "To use log-level filtering, your
        # function must be configured to use the JSON log format." The API reference's
        # LoggingConfig lists the levels without this condition and documents no error for it:
        # the refusal (code and message) follows the developer guide; so a controller that sends
        # the live JSON levels with LogFormat Text (a JSON -> Text switch) fails here.
        if (app or system) and fmt != "JSON":
            raise invalid("ApplicationLogLevel and SystemLogLevel can be set only when LogFormat is JSON.")
        group = logging.get("LogGroup")
        if group is not None and not LOG_GROUP.match(group):
            raise ApiError(400, "ValidationException", "Value at 'loggingConfig.logGroup' failed to satisfy constraint")


def check_definition(environ, fn, body):
    """AWS's refusals of the definition members (Runtime, Handler, Role) of an update of `fn`."""
    runtime, handler, role = body.get("Runtime"), body.get("Handler"), body.get("Role")
    if runtime is not None and runtime not in RUNTIMES:
        raise ApiError(400, "ValidationException", f"1 validation error detected: Value '{runtime[:64]}' at 'runtime' "
                       f"failed to satisfy constraint: Member must satisfy enum value set: [{', '.join(RUNTIMES)}]")
    if handler is not None and not HANDLER.match(handler):
        raise ApiError(400, "ValidationException", f"1 validation error detected: Value '{handler[:128]}' at 'handler' "
                       "failed to satisfy constraint: Member must satisfy regular expression pattern: [^\\s]+")
    if role is not None:
        if not ROLE_ARN.match(role):
            raise ApiError(400, "ValidationException", f"1 validation error detected: Value '{role[:128]}' at 'role' "
                           "failed to satisfy constraint: Member must satisfy regular expression pattern: "
                           "arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+")
        # Lambda API permissions reference: "The user must have permissions to pass the role to
        # AWS Lambda" (iam:PassRole, for CreateFunction and UpdateFunctionConfiguration with Role).
        iam.check_pass_role(environ, role)
        try:
            # The role's partition (aws, aws-cn, aws-us-gov) holds it.
            iam_backends[account()][role.split(":")[1] or "aws"].get_role_by_arn(role)
        except Exception:
            # AWS (and moto's CreateFunction): a role Lambda cannot assume is refused.
            raise invalid("The role defined for the function cannot be assumed by Lambda.")
    # Observed (pulumi/pulumi-aws#5439): "Please don't provide Handler or Runtime or Layer when
    # the intended function PackageType is Image."
    if fn.package_type == "Image" and (runtime is not None or handler is not None or body.get("Layers")):
        raise invalid("Please don't provide Handler or Runtime or Layer when the intended function PackageType is Image.")
    check_layout(environ, fn, body)


def _too_long(member, limit):
    return ApiError(400, "ValidationException", f"1 validation error detected: Value at '{member}' failed to satisfy "
                    f"constraint: Member must have length less than or equal to {limit}")


def _pattern(member, value, pattern):
    return ApiError(400, "ValidationException", f"1 validation error detected: Value '{value[:128]}' at '{member}' "
                    f"failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}")


def _check_vpc(environ, fn, vpc):
    subnets, groups = vpc.get("SubnetIds") or [], vpc.get("SecurityGroupIds") or []
    if len(subnets) > 16:
        raise _too_long("vpcConfig.subnetIds", 16)
    if len(groups) > 5:
        # Observed: "Value '[sg-1, …]' at 'vpcConfig.securityGroupIds' failed to satisfy
        # constraint: Member must have length less than or equal to 5".
        raise _too_long("vpcConfig.securityGroupIds", 5)
    for sub in subnets:
        if not SUBNET.match(sub):
            raise _pattern("vpcConfig.subnetIds", sub, "^subnet-[0-9a-z]*$")
    for sg in groups:
        if not SECURITY_GROUP.match(sg):
            raise _pattern("vpcConfig.securityGroupIds", sg, "^sg-[0-9a-zA-Z]*$")
    if bool(subnets) != bool(groups):
        # Observed (appleboy/lambda-action#72): InvalidParameterValueException.
        raise invalid("SubnetIds and SecurityIds must coexist or be both empty list.")
    if not subnets:
        return
    # Lambda API permissions reference: a VPC needs ec2:DescribeSecurityGroups,
    # ec2:DescribeSubnets and ec2:DescribeVpcs for the caller.
    for action in ("ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs"):
        iam.check_action(environ, action)
    ec2 = ec2_backends[account()][fn.region]
    for sub in subnets:
        try:
            ec2.get_subnet(sub)
        except Exception:
            # Lambda looks the subnets up with EC2 (the wording around EC2's error is the emulator's).
            raise invalid(f"Error occurred while DescribeSubnets. EC2 Error Code: InvalidSubnetID.NotFound. "
                          f"EC2 Error Message: The subnet ID '{sub}' does not exist")
    for sg in groups:
        if ec2.get_security_group_from_id(sg) is None:
            raise invalid(f"Error occurred while DescribeSecurityGroups. EC2 Error Code: InvalidGroup.NotFound. "
                          f"EC2 Error Message: The security group '{sg}' does not exist")


def _vpc_of(fn):
    return getattr(fn, "_vpc_config", None) or {}


def _check_file_systems(environ, fn, body):
    configs = body.get("FileSystemConfigs")
    if configs is not None:
        if len(configs) > 1:
            raise _too_long("fileSystemConfigs", 1)
        for c in configs:
            if not ACCESS_POINT.match(c.get("Arn") or ""):
                raise _pattern("fileSystemConfigs.arn", c.get("Arn") or "", "arn:aws[a-zA-Z-]*:elasticfilesystem:…:access-point/fsap-[a-f0-9]{17}")
            path = c.get("LocalMountPath") or ""
            if len(path) > 160:
                raise _too_long("fileSystemConfigs.localMountPath", 160)
            if not MOUNT_PATH.match(path):
                raise _pattern("fileSystemConfigs.localMountPath", path, "/mnt/[a-zA-Z0-9-_.]+")
        if configs:
            # configuration-filesystem: the caller needs elasticfilesystem:DescribeMountTargets.
            iam.check_action(environ, "elasticfilesystem:DescribeMountTargets")
    after = configs if configs is not None else (getattr(fn, "ext_file_systems", None) or [])
    vpc = body["VpcConfig"] if "VpcConfig" in body else _vpc_of(fn)
    if after and not (vpc.get("SubnetIds") or []):
        arn = after[0].get("Arn")
        if "VpcConfig" in body and (_vpc_of(fn).get("SubnetIds") or []):
            # Observed (aws/chalice#1453).
            raise invalid(f"Function VPC configuration cannot be removed with access point {arn} referenced.")
        # Observed (aws-cloudformation/cfn-lint#4408).
        raise invalid(f"Function must be configured to execute in a VPC to reference access point {arn}")


def _check_snap_start(fn, body):
    apply_on = (body.get("SnapStart") or {}).get("ApplyOn")
    if apply_on is not None and apply_on not in ("PublishedVersions", "None"):
        raise ApiError(400, "ValidationException", f"Value '{apply_on[:32]}' at 'snapStart.applyOn' failed to satisfy "
                       "constraint: Member must satisfy enum value set: [PublishedVersions, None]")
    on = apply_on if apply_on is not None else getattr(fn, "ext_snap_start", "None")
    if on != "PublishedVersions":
        return
    # snapstart.html: "SnapStart does not support provisioned concurrency, Amazon Elastic File
    # System (Amazon EFS), or ephemeral storage greater than 512 MB"; container images are not
    # supported. Observed: "python3.12 is not supported for SnapStart enabled functions." (in a
    # region without it), "nodejs22.x is not supported for SnapStart enabled functions.". The
    # wording of the EFS, storage and image refusals is the emulator's.
    runtime = body.get("Runtime") or fn.run_time
    if fn.package_type == "Image":
        raise invalid("SnapStart is not supported for functions with PackageType Image.")
    if not SNAP_START_RUNTIME.match(runtime or ""):
        raise invalid(f"{runtime} is not supported for SnapStart enabled functions.")
    storage = (body.get("EphemeralStorage") or {}).get("Size") or fn.ephemeral_storage
    if int(storage) > 512:
        raise invalid("SnapStart is not supported for functions with ephemeral storage greater than 512 MB.")
    fs = body["FileSystemConfigs"] if "FileSystemConfigs" in body else getattr(fn, "ext_file_systems", None)
    if fs:
        raise invalid("SnapStart is not supported for functions with Amazon EFS file systems.")


def check_layout(environ, fn, body):
    """AWS's refusals of VpcConfig, FileSystemConfigs, SnapStart and ImageConfig (quoted per rule)."""
    if "VpcConfig" in body:
        _check_vpc(environ, fn, body["VpcConfig"] or {})
        before = sorted(_vpc_of(fn).get("SubnetIds") or []), sorted(_vpc_of(fn).get("SecurityGroupIds") or [])
        after = sorted(body["VpcConfig"].get("SubnetIds") or []), sorted(body["VpcConfig"].get("SecurityGroupIds") or [])
        fn.ext_vpc_changing = before != after
    _check_file_systems(environ, fn, body)
    _check_snap_start(fn, body)
    if "ImageConfig" in body and fn.package_type != "Image":
        # ImageConfig: "Container image configuration values that override the values in the
        # container image Dockerfile." (the refusal's wording is the emulator's).
        raise invalid("ImageConfig is not supported for functions with PackageType Zip.")
    image = body.get("ImageConfig") or {}
    for key in ("EntryPoint", "Command"):
        if len(image.get(key) or []) > 1500:
            raise _too_long(f"imageConfig.{key[0].lower()}{key[1:]}", 1500)
    if len(image.get("WorkingDirectory") or "") > 1000:
        raise _too_long("imageConfig.workingDirectory", 1000)


def store_layout(fn, body):
    """Keeps FileSystemConfigs, SnapStart and ImageConfig; a VPC change keeps the function
    InProgress longer ("If your function connects to a VPC, this process can take a minute")."""
    if "FileSystemConfigs" in body:
        fn.ext_file_systems = body["FileSystemConfigs"] or []
    if "SnapStart" in body:
        fn.ext_snap_start = (body["SnapStart"] or {}).get("ApplyOn") or "None"
    if "ImageConfig" in body:
        fn.ext_image_config = body["ImageConfig"] or {}
    if getattr(fn, "ext_vpc_changing", False):
        fn.ext_vpc_changing = False
        key = (fn.region, fn.function_name)
        until = time.monotonic() + float(CONFIG.get("vpc_update_seconds", 1.0))
        STATE["updating"][key] = max(STATE["updating"].get(key, 0), until)


def patch_layout(conf, fn, latest):
    vpc = _vpc_of(fn)
    if vpc:
        subnets, groups = vpc.get("SubnetIds") or [], vpc.get("SecurityGroupIds") or []
        vpc_id = ""
        if subnets:
            try:
                vpc_id = ec2_backends[account()][fn.region].get_subnet(subnets[0]).vpc_id
            except Exception:
                vpc_id = ""
        conf["VpcConfig"] = {"SubnetIds": subnets, "SecurityGroupIds": groups, "VpcId": vpc_id,
                             "Ipv6AllowedForDualStack": bool(vpc.get("Ipv6AllowedForDualStack"))}
    if getattr(fn, "ext_file_systems", None):
        conf["FileSystemConfigs"] = fn.ext_file_systems
    # SnapStart: "Lambda initializes your function when you publish a function version"; $LATEST
    # is never optimized (OptimizationStatus Off), a version published with it is (On).
    apply_on = getattr(fn, "ext_snap_start", "None")
    on = apply_on == "PublishedVersions" and not latest
    conf["SnapStart"] = {"ApplyOn": apply_on, "OptimizationStatus": "On" if on else "Off"}
    if fn.package_type == "Image":
        conf.pop("Runtime", None)
        conf.pop("Handler", None)
        if getattr(fn, "ext_image_config", None) is not None:
            conf["ImageConfigResponse"] = {"ImageConfig": fn.ext_image_config}


def seed_vpc(endpoint, region, subnets):
    """A VPC with `subnets` subnets and one security group, made through EC2's API (the
    controller never makes them): their ids."""
    import seed

    ec2 = seed.client("ec2", endpoint, region)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    ids = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24")["Subnet"]["SubnetId"] for i in range(subnets)]
    sg = ec2.create_security_group(GroupName="app-lambda", Description="lambda", VpcId=vpc)["GroupId"]
    return {"VpcId": vpc, "SubnetIds": ids, "SecurityGroupId": sg}


def store(fn, body):
    """Keeps what moto drops, on moto's function object (copied into each published version)."""
    store_layout(fn, body)
    if "TracingConfig" in body:
        fn.tracing_config = {"Mode": body["TracingConfig"].get("Mode") or "PassThrough"}
    if "EphemeralStorage" in body:
        fn.ephemeral_storage = int(body["EphemeralStorage"]["Size"])
    if "KMSKeyArn" in body:
        fn.kms_key_arn = body["KMSKeyArn"] or None
    if "DeadLetterConfig" in body:
        fn.ext_dead_letter = body["DeadLetterConfig"].get("TargetArn") or None
    if "LoggingConfig" in body:
        current = getattr(fn, "ext_logging", None) or {}
        merged = {**current, **{k: v for k, v in body["LoggingConfig"].items() if v is not None}}
        if merged.get("LogFormat") == "Text":
            merged.pop("ApplicationLogLevel", None)
            merged.pop("SystemLogLevel", None)
        fn.ext_logging = merged
    if CONFIG.get("update_fails", {}).get(fn.function_name):
        STATE["update_failed"][fn.function_name] = CONFIG["update_fails"][fn.function_name]
    else:
        STATE["update_failed"].pop(fn.function_name, None)


def patch(out, fn, latest):
    """Adds the stored settings (and a scripted failed update of $LATEST) to a configuration."""
    doc = json.loads(out)
    conf = doc.get("Configuration", doc)
    conf["LoggingConfig"] = {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{fn.function_name}",
                             **(getattr(fn, "ext_logging", None) or {})}
    if getattr(fn, "ext_dead_letter", None):
        conf["DeadLetterConfig"] = {"TargetArn": fn.ext_dead_letter}
    if not conf.get("KMSKeyArn"):
        conf.pop("KMSKeyArn", None)
    patch_layout(conf, fn, latest)
    failed = STATE["update_failed"].get(fn.function_name) if latest else None
    if failed and conf.get("LastUpdateStatus") == "Successful":
        conf["LastUpdateStatus"] = "Failed"
        conf["LastUpdateStatusReasonCode"] = failed.get("code", "InvalidConfiguration")
        conf["LastUpdateStatusReason"] = failed.get("reason", "The configuration could not be applied.")
    return json.dumps(doc).encode()

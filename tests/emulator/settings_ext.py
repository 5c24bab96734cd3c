"""Lambda function settings moto's UpdateFunctionConfiguration ignores (measured, moto 5.2.5: a
read returns PassThrough / null / 512 after an update of TracingConfig, DeadLetterConfig,
LoggingConfig, EphemeralStorage or KMSKeyArn), stored on moto's function object so versions
published from $LATEST keep them, with AWS's validation of every setting, and a scripted
LastUpdateStatus Failed."""

import json
import re

import botocore.session
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
            iam_backends[account()]["aws"].get_role_by_arn(role)
        except Exception:
            # AWS (and moto's CreateFunction): a role Lambda cannot assume is refused.
            raise invalid("The role defined for the function cannot be assumed by Lambda.")
    # Observed (pulumi/pulumi-aws#5439): "Please don't provide Handler or Runtime or Layer when
    # the intended function PackageType is Image."
    if fn.package_type == "Image" and (runtime is not None or handler is not None or body.get("Layers")):
        raise invalid("Please don't provide Handler or Runtime or Layer when the intended function PackageType is Image.")


def store(fn, body):
    """Keeps what moto drops, on moto's function object (copied into each published version)."""
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
    failed = STATE["update_failed"].get(fn.function_name) if latest else None
    if failed and conf.get("LastUpdateStatus") == "Successful":
        conf["LastUpdateStatus"] = "Failed"
        conf["LastUpdateStatusReasonCode"] = failed.get("code", "InvalidConfiguration")
        conf["LastUpdateStatusReason"] = failed.get("reason", "The configuration could not be applied.")
    return json.dumps(doc).encode()

"""KMS on the caller's behalf: Lambda and Secrets Manager use a customer managed key with the
permissions of the principal that calls them, so a principal whose policy lacks the KMS action
(through kms:ViaService of that service, iam.allows) is refused or gets an error in the answer.
AWS managed keys (no KMSKeyArn; a secret's aws/secretsmanager) need nothing.

Modelled by action and kms:ViaService only (iam.py): not the key ARN a statement names, key
policies or grants, nor whether the key exists or is enabled; any KMSKeyArn counts as a
customer managed key."""

import io
import json

from moto.secretsmanager.models import secretsmanager_backends

import iam
from common import account, ApiError, access_key_of, call_inner, finish

# Lambda developer guide, Securing environment variables ("Managing permissions to your
# server-side encryption KMS key"): "No AWS KMS permissions are required for your user or the
# function's execution role to use the default encryption key. To use a customer managed key,
# you need permission to use the key. Lambda uses your permissions to create a grant on the key.
#  - kms:CreateGrant, kms:Encrypt - To configure a customer managed key on a function.
#  - kms:Decrypt - To view and manage environment variables that are encrypted with a customer
#    managed key. ... Users without Decrypt permissions can still manage functions, but they
#    can't view environment variables".
# Secrets Manager API reference, BatchGetSecretValue (and GetSecretValue): "If the secrets are
# encrypted using customer-managed keys instead of the AWS managed key aws/secretsmanager, then
# you also need kms:Decrypt permissions for the keys."
SECRETS_DEFAULT_KEYS = (None, "", "alias/aws/secretsmanager")


def _denied(environ, action, service, region, key):
    """The refusal text KMS gives, or None when the caller's policy allows `action` via `service`."""
    policy = iam.policy_of(environ)
    if policy is None or iam.allows(policy, action, via=f"{service}.{region}.amazonaws.com"):
        return None
    return (f"User: arn:aws:iam::123456789012:user/{access_key_of(environ)} is not authorized to perform: {action} "
            f"on resource: {key} because no identity-based policy allows the {action} action")


def check_lambda_update(environ, region, fn, body):
    """UpdateFunctionConfiguration under a customer key. Setting KMSKeyArn needs kms:CreateGrant
    (AWS answers InvalidParameterValueException "Lambda was unable to configure access to your
    environment variables because the KMS key is invalid for CreateGrant. Please check your KMS
    key settings. KMS Exception: ..." - the message seen in the field, e.g.
    hashicorp/terraform#20813, and matched by terraform-provider-aws) and kms:Encrypt, as does
    writing the environment under such a key ("Lambda was unable to encrypt your environment
    variables" is seen in the field; its error code is not documented: InvalidParameterValue
    here too)."""
    key = body["KMSKeyArn"] if "KMSKeyArn" in body else getattr(fn, "kms_key_arn", None)
    if not key or not ("KMSKeyArn" in body or "Environment" in body):
        return
    why = _denied(environ, "kms:CreateGrant", "lambda", region, key) if body.get("KMSKeyArn") else None
    if why:
        raise ApiError(400, "InvalidParameterValueException",
                       "Lambda was unable to configure access to your environment variables because the KMS key is "
                       "invalid for CreateGrant. Please check your KMS key settings. KMS Exception: "
                       f"AccessDeniedException KMS Message: {why}")
    why = _denied(environ, "kms:Encrypt", "lambda", region, key)
    if why:
        raise ApiError(400, "InvalidParameterValueException",
                       "Lambda was unable to encrypt your environment variables because KMS access was denied. "
                       f"Please check your KMS permissions. KMS Exception: AccessDeniedException KMS Message: {why}")


def lambda_read(environ, region, fn, out):
    """GetFunction / GetFunctionConfiguration of a configuration under a customer key, for a
    caller without kms:Decrypt: no Variables, an Environment.Error instead (EnvironmentResponse:
    "If the operation succeeds, the response contains the environment variables. If it fails,
    the response contains details about the error"). The ErrorCode / Message are not documented
    for reads; the message is the one Invoke gives for the same refusal ("Lambda was unable to
    decrypt the environment variables because KMS access was denied. Please check the
    function's KMS key settings. KMS Exception: AccessDeniedException KMS Message: ..."), and
    the code is KMS's (AccessDeniedException)."""
    key = getattr(fn, "kms_key_arn", None)
    if not key:
        return out
    doc = json.loads(out)
    conf = doc.get("Configuration", doc)
    why = (conf.get("Environment") or {}).get("Variables") and _denied(environ, "kms:Decrypt", "lambda", region, key)
    if not why:
        return out
    conf["Environment"] = {"Error": {
        "ErrorCode": "AccessDeniedException",
        "Message": "Lambda was unable to decrypt the environment variables because KMS access was denied. Please "
                   f"check the function's KMS key settings. KMS Exception: AccessDeniedException KMS Message: {why}"}}
    return json.dumps(doc).encode()


def _undecryptable(environ, region, secret_id):
    b = secretsmanager_backends[account()][region]
    key = getattr(b.secrets[secret_id], "kms_key_id", None) if secret_id in b.secrets else None
    return key not in SECRETS_DEFAULT_KEYS and _denied(environ, "kms:Decrypt", "secretsmanager", region, key) is not None


# GetSecretValue without kms:Decrypt on the secret's customer key: 400 AccessDeniedException
# "Access to KMS is not allowed" (as AWS answers it: aws-samples/aws-secrets-manager-rotation-
# lambdas#53, external-secrets/external-secrets#390, fixed there by granting kms:Decrypt). In
# BatchGetSecretValue the secret is in Errors (APIErrorType.ErrorCode: "for example
# ResourceNotFoundException, InvalidParameterException, InvalidRequestException,
# DecryptionFailure, or AccessDeniedException"; DecryptionFailure is "Secrets Manager can't
# decrypt the protected secret text using the provided KMS key", a key problem, not the caller's).
KMS_REFUSED = "Access to KMS is not allowed"


def secrets(inner, environ, start_response, region, target, raw):
    """GetSecretValue / BatchGetSecretValue with the caller's kms:Decrypt on customer keys."""
    req = json.loads(raw or b"{}")
    if target.endswith(".GetSecretValue"):
        if _undecryptable(environ, region, req.get("SecretId") or ""):
            raise ApiError(400, "AccessDeniedException", KMS_REFUSED)
        return inner(environ, start_response)
    ids = req.get("SecretIdList") or []
    refused = [i for i in ids if _undecryptable(environ, region, i)]
    if not refused:
        return inner(environ, start_response)
    req["SecretIdList"] = [i for i in ids if i not in refused]
    data = json.dumps(req).encode()
    environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(data), str(len(data))
    status, headers, out = call_inner(inner, environ)
    if status.startswith("200"):
        doc = json.loads(out)
        doc["Errors"] = (doc.get("Errors") or []) + [
            {"SecretId": i, "ErrorCode": "AccessDeniedException", "Message": KMS_REFUSED} for i in refused]
        out = json.dumps(doc).encode()
    return finish(start_response, status, headers, out)

"""UpdateFunctionCode from S3: what moto 5.2.5 ignores. It reads the latest object whatever
S3ObjectVersion says; here the named version is read, a missing bucket, key or version is refused
as Lambda refuses it, the bucket must be in the function's region, and the caller needs
s3:GetObject (s3:GetObjectVersion for a version) since Lambda reads with the caller's permissions.
Also a versioned-object seed for the tests (`/_ext/seed/object`)."""

import base64
import hashlib
import io
import json
import zipfile

from moto.s3.exceptions import MissingBucket
from moto.s3.models import s3_backends

import iam
from common import account, ApiError


def _s3():
    return s3_backends[account()]["aws"]


def _get_object_error(code, message):
    # AWS (observed): "InvalidParameterValueException: Error occurred while GetObject. S3 Error
    # Code: NoSuchKey. S3 Error Message: The specified key does not exist." (moto has the same text).
    return ApiError(400, "InvalidParameterValueException",
                    f"Error occurred while GetObject. S3 Error Code: {code}. S3 Error Message: {message}")


def resolve(environ, region, body):
    """The S3 object an UpdateFunctionCode request names, or the error Lambda answers; None when
    the request carries no S3 location (ZipFile, ImageUri)."""
    bucket_name, key_name = body.get("S3Bucket"), body.get("S3Key")
    if not bucket_name or not key_name:
        return None
    version = body.get("S3ObjectVersion")
    iam.check_code_read(environ, bucket_name, key_name, version)
    try:
        bucket = _s3().get_bucket(bucket_name)
    except MissingBucket:
        raise _get_object_error("NoSuchBucket", "The specified bucket does not exist")
    # AWS (UpdateFunctionCode, S3Bucket): "An Amazon S3 bucket in the same Amazon Web Services
    # Region as your function."
    if bucket.region_name != region:
        raise _get_object_error("PermanentRedirect", f"The bucket is in this region: {bucket.region_name}. "
                                "Please use this region to retry the request")
    key = _s3().get_object(bucket_name, key_name, version_id=version)
    if key is None and version is not None and _s3().get_object(bucket_name, key_name) is not None:
        raise _get_object_error("NoSuchVersion", "The specified version does not exist.")
    if key is None:
        raise _get_object_error("NoSuchKey", "The specified key does not exist.")
    return key


def store(fn, key, body, out):
    """Sets the function's code to the object read (moto took the latest) and answers its hash:
    AWS (CodeSha256): "The SHA256 hash of the function's deployment package"."""
    digest = hashlib.sha256(key.value)
    fn.code_bytes, fn.code_size = key.value, key.size
    fn.code_sha_256, fn.code_digest = base64.b64encode(digest.digest()).decode(), digest.hexdigest()
    if body.get("S3ObjectVersion"):
        fn.code["S3ObjectVersion"] = body["S3ObjectVersion"]
    else:
        fn.code.pop("S3ObjectVersion", None)
    doc = json.loads(out)
    doc["CodeSha256"], doc["CodeSize"] = fn.code_sha_256, fn.code_size
    return json.dumps(doc).encode()


def seed_object(region, bucket, key, text):
    """Puts a zip holding `text` at `bucket/key` (created in `region`, versioned, when missing);
    answers its VersionId and the CodeSha256 Lambda would report for it."""
    s3 = _s3()
    try:
        s3.get_bucket(bucket)
    except MissingBucket:
        s3.create_bucket(bucket, region)
        s3.put_bucket_versioning(bucket, "Enabled")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", text)
    data = buf.getvalue()
    obj = s3.put_object(bucket, key, data)
    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    return {"VersionId": str(obj.version_id), "CodeSha256": sha, "ZipFile": base64.b64encode(data).decode()}

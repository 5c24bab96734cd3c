"""UpdateFunctionCode from S3: what moto 5.2.5 ignores. It reads the latest object whatever
S3ObjectVersion says; here the named version is read, a missing bucket, key or version is refused
as Lambda refuses it, the bucket must be in the function's region, and the caller needs
s3:GetObject (s3:GetObjectVersion for a version) since Lambda reads with the caller's permissions.
Images (moto stubs ECR and never checks the package type): S3 fields are refused on an Image
function and ImageUri on a Zip one, an image must exist in moto's ECR and its CodeSha256 is its
digest's hex; Architectures is stored (moto ignores it); RevisionId is honoured (412).
Also a versioned-object seed (`/_ext/seed/object`) and an ECR image seed (`/_ext/seed/image`)."""

import base64
import hashlib
import io
import json
import zipfile

from moto.ecr.models import ecr_backends
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


def _invalid(message):
    return ApiError(400, "InvalidParameterValueException", message)


def check(environ, fn, body, current_revision):
    """UpdateFunctionCode's refusals moto lacks, before anything changes; answers the ECR image an
    ImageUri names (None without one)."""
    want = body.get("RevisionId")
    # AWS (UpdateFunctionCode, RevisionId): "Update the function only if the revision ID matches
    # the ID that's specified. Use this option to avoid modifying a function that has changed
    # since you last read it." (412 PreconditionFailedException, as PublishVersion).
    if want is not None and want != current_revision:
        raise ApiError(412, "PreconditionFailedException",
                       "The Revision Id provided does not match the latest Revision Id. "
                       "Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
    zip_fields = any(body.get(k) for k in ("S3Bucket", "S3Key", "S3ObjectVersion", "ZipFile"))
    # AWS (UpdateFunctionCode, S3Bucket/S3Key/ZipFile): "Use only with a function defined with a
    # .zip file archive deployment package."; observed refusal (appleboy/lambda-action#28):
    # "Please provide ImageUri when updating a function with packageType Image."
    if fn.package_type == "Image" and (zip_fields or not body.get("ImageUri")):
        raise _invalid("Please provide ImageUri when updating a function with packageType Image.")
    # AWS (UpdateFunctionCode, ImageUri): "Do not use for a function defined with a .zip file
    # archive."; observed refusal (umihico/pythonista-chromeless#19): "Please don't provide
    # ImageUri when updating a function with packageType Zip."
    if fn.package_type != "Image" and body.get("ImageUri"):
        raise _invalid("Please don't provide ImageUri when updating a function with packageType Zip.")
    arch = body.get("Architectures")
    # AWS (UpdateFunctionCode, Architectures): a list of 1 item, "one of the valid values (arm64
    # or x86_64)"; the model's constraint message for an enum member.
    if arch is not None and (len(arch) != 1 or arch[0] not in ("x86_64", "arm64")):
        raise ApiError(400, "ValidationException",
                       f"1 validation error detected: Value '{str(arch)[:100]}' at 'architectures' failed to satisfy "
                       "constraint: Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64]]")
    return image(environ, body["ImageUri"]) if body.get("ImageUri") else None


def image(environ, uri):
    """The ECR image `uri` names (`ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO@sha256:HEX` or
    `…/REPO:TAG`). AWS refuses one that does not exist (observed, ministryofjustice/
    modernisation-platform#2419): "Source image URI is not valid. Provide a valid source image."."""
    host, _, path = uri.partition("/")
    labels = host.split(".")
    found = None
    if len(labels) >= 6 and labels[1:3] == ["dkr", "ecr"] and path:
        repo, at, digest = path.partition("@")
        if not at:
            repo, _, tag = path.rpartition(":")
        iam.check_image_read(environ, labels[0], account())
        backend = ecr_backends[labels[0]][labels[3]]
        repository = backend.repositories.get(repo)
        for img in (repository.images if repository else []):
            if (at and img.image_digest == digest) or (not at and tag and tag in img.image_tags):
                found = img
    if found is None:
        raise _invalid(f"Source image {uri[:300]} is not valid. Provide a valid source image.")
    return found


def store(fn, key, body, out, img=None):
    """Sets what moto left out: the image's hash (its digest, not a hash of the URI string) and the
    architecture; for a zip, the object read (moto took the latest) and its hash. AWS
    (CodeSha256): "The SHA256 hash of the function's deployment package"."""
    if body.get("Architectures"):
        fn.architectures = list(body["Architectures"])
    doc = json.loads(out)
    doc["Architectures"] = fn.architectures
    if img is not None:
        fn.code_sha_256 = img.image_digest.replace("sha256:", "")
        fn.code["ImageUri"] = body["ImageUri"]
        doc["CodeSha256"] = fn.code_sha_256
    if key is None:
        return json.dumps(doc).encode()
    out = json.dumps(doc).encode()
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


def seed_image(region, repository, tag, text, owner=None):
    """Pushes an image (a manifest holding `text`) to ECR `repository` (created when missing) in
    `region`, of account `owner` (default: the emulator's); answers its URI by digest and the
    CodeSha256 Lambda reports for it."""
    owner = owner or account()
    backend = ecr_backends[owner][region]
    if repository not in backend.repositories:
        backend.create_repository(repository, None, None, None, None, None, None)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                           "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(text),
                                      "digest": "sha256:" + hashlib.sha256(text.encode()).hexdigest()},
                           "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                                       "size": len(text), "digest": "sha256:" + hashlib.sha256(text.encode()).hexdigest()}]})
    # ECR: an image's digest is the SHA-256 of its manifest (moto hashes the layer digests only).
    img = backend.put_image(repository, manifest, tag, digest="sha256:" + hashlib.sha256(manifest.encode()).hexdigest())
    hexdigest = img.image_digest.replace("sha256:", "")
    host = f"{owner}.dkr.ecr.{region}.amazonaws.com"
    return {"ImageUri": f"{host}/{repository}@{img.image_digest}", "TagUri": f"{host}/{repository}:{tag}",
            "CodeSha256": hexdigest}


def created(region, name, code_sha256):
    """An Image function just created from a seeded image: its CodeSha256 is the digest's hex (as
    after UpdateFunctionCode), not moto's hash of the URI string."""
    from moto.awslambda.models import lambda_backends

    lambda_backends[account()][region].get_function(name).code_sha_256 = code_sha256

"""Local AWS emulator for lambda-reconciler's tests: moto server plus the project's extension for
what moto lacks or lets through (one module per service: lambda_ext, aas, ssm_ext), the caller's
IAM policy (iam), injected faults (faults), a request log and test switches under /_ext/.

Run: python tests/emulator/server.py --port PORT [--seed N]   (prints "ready PORT seed N" once
listening; --port 0 picks a free port; the seed makes random faults reproducible)
"""

import argparse
import io
import json
import os
import random
import sys
import time

from werkzeug.serving import make_server

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

import aas
import cloudtrail_ext
import cloudwatch_ext
import configs_ext
import faults
import iam
import kms_ext
import lambda_ext
import ssm_ext
import url_ext
from common import CONFIG, LOCK, STATE, ApiError, access_key_of, error, finish, region_of, respond, service_of, set_account


def sns_error(start_response, e):
    """An awsQuery (XML) error, as SNS answers."""
    body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{e.code}</Code><Message>{e.message}</Message>"
            "</Error><RequestId>emulator</RequestId></ErrorResponse>").encode()
    start_response(f"{e.status} Error", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]


def logged_body(service, path, raw):
    """The bodies the tests and the benchmark read back: SNS messages, alias and tag writes, and
    CloudWatch requests (CBOR, logged as JSON)."""
    if cloudwatch_ext.operation_of(path) is not None:
        return cloudwatch_ext.as_json(raw)
    if service == "sns" or "/aliases/" in path or "/tags/" in path:
        return raw.decode("utf-8", "replace")
    return ""


class Extension:
    def __init__(self, inner):
        self.inner = inner

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ["REQUEST_METHOD"]
        if path.startswith("/_ext/"):
            return self.admin(environ, start_response, path, method)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        region = region_of(environ)
        service = service_of(environ)
        set_account(cloudtrail_ext.account_of(access_key_of(environ)))
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        fault = faults.draw(service, method, lambda: iam.action_of(environ, service, raw), region,
                            access_key_of(environ))
        lost = fault is not None and bool(fault.get("after"))
        with LOCK:
            STATE["requests"].append({"t": time.time(), "method": method, "path": path,
                                      "query": environ.get("QUERY_STRING", ""), "target": target,
                                      "region": region, "service": service,
                                      "account": cloudtrail_ext.account_of(access_key_of(environ)),
                                      "key": access_key_of(environ),
                                      "body": logged_body(service, path, raw),
                                      "injected": fault is not None, "answer_lost": lost})
        cbor = cloudwatch_ext.operation_of(path) is not None
        if lost:
            lose_answer(lambda sr: self.answer(environ, sr, path, method, region, target, raw, service, cbor))
        if fault is not None:
            if cbor and not fault.get("reset"):
                return cloudwatch_ext.cbor_error(start_response, int(fault.get("status", 429)),
                                                 fault.get("code", "Throttling"), fault.get("message", "injected fault"))
            return faults.respond_fault(environ, start_response, fault)
        return self.answer(environ, start_response, path, method, region, target, raw, service, cbor)

    def answer(self, environ, start_response, path, method, region, target, raw, service, cbor):
        """The request carried out (the IAM check, then the extension or moto)."""
        try:
            iam.check(environ, service, raw)
            if cbor:
                with LOCK:
                    return cloudwatch_ext.handle(self.inner, environ, start_response, raw)
            if service in ("lambda", "application-autoscaling", "sts"):
                return self.recorded(environ, start_response, service, raw,
                                     lambda sr: self.route(environ, sr, path, method, region, target, raw))
            return self.route(environ, start_response, path, method, region, target, raw)
        except ApiError as e:
            if service in ("sns", "sts"):
                return sns_error(start_response, e)
            if cbor:
                return cloudwatch_ext.cbor_error(start_response, e.status, e.code, e.message)
            return error(start_response, e, json_protocol=bool(target))

    def recorded(self, environ, start_response, service, raw, handle):
        """Runs `handle`, then records the call as CloudTrail would (cloudtrail_ext)."""
        captured = {}

        def sr(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        chunks = handle(sr)
        body = b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
        status = int(captured["status"].split()[0])
        if service == "sts":
            body = cloudtrail_ext.caller_identity_override(environ, raw, status, captured["headers"], body)
        else:
            with LOCK:
                cloudtrail_ext.record(environ, service, raw, status, body)
        return finish(start_response, captured["status"], captured["headers"], body)

    def route(self, environ, start_response, path, method, region, target, raw):
        if service_of(environ) == "sts":
            cloudtrail_ext.check_assume_role(environ, raw)
        for name, rx in configs_ext.ROUTES:
            m = rx.match(path)
            if m:
                with LOCK:
                    return configs_ext.route(name, m, environ, start_response, method, region, raw)
        for name, rx in url_ext.ROUTES:
            m = rx.match(path)
            if m:
                with LOCK:
                    return respond(start_response, *url_ext.handle(name, m, environ, method, region,
                                                                   json.loads(raw) if raw else {}))
        for name, rx in lambda_ext.ROUTES:
            m = rx.match(path)
            if m and name == "invoke":
                return lambda_ext.invoke(environ, start_response, region, m["fn"], raw)
            if m:
                with LOCK:
                    return lambda_ext.route(self.inner, name, m, environ, start_response, method, region, raw)
        op = target.rsplit(".", 1)[-1]
        if target.startswith("AnyScaleFrontendService."):
            if op == "DeregisterScalableTarget":
                return aas.deregister(self.inner, environ, start_response, region, raw)
            if op in aas.AAS_PAGES:
                with LOCK:
                    return respond(start_response, 200, aas.aas_describe(op, region, json.loads(raw or b"{}")))
        if target == "secretsmanager.BatchGetSecretValue":
            # AWS (BatchGetSecretValue): "SecretIdList ... Maximum number of 20 items"; moto takes any.
            ids = json.loads(raw or b"{}").get("SecretIdList") or []
            if len(ids) > 20:
                raise ApiError(400, "ValidationException", "1 validation error detected: Value at 'secretIdList' "
                               "failed to satisfy constraint: Member must have length less than or equal to 20")
        if target in ("secretsmanager.GetSecretValue", "secretsmanager.BatchGetSecretValue"):
            with LOCK:
                return kms_ext.secrets(self.inner, environ, start_response, region, target, raw)
        if target == "AmazonSSM.GetParameters":
            with LOCK:
                return respond(start_response, 200, ssm_ext.get_parameters(region, json.loads(raw or b"{}")))
        return self.inner(environ, start_response)

    def admin(self, environ, start_response, path, method):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
        if path == "/_ext/seed/function" and method == "POST":
            import seed  # beside this file

            port = environ.get("SERVER_PORT")
            arn = seed.function(f"http://127.0.0.1:{port}", body.get("region", "us-east-1"), body["name"],
                                int(body.get("versions", 2)), body.get("role_arn"))
            return respond(start_response, 200, {"FunctionArn": arn})
        if path == "/_ext/seed/queue" and method == "POST":
            import seed

            port = environ.get("SERVER_PORT")
            arn = seed.queue(f"http://127.0.0.1:{port}", body.get("region", "us-east-1"), body["name"])
            return respond(start_response, 200, {"QueueArn": arn})
        if path == "/_ext/seed/object" and method == "POST":
            import code_ext

            with LOCK:
                out = code_ext.seed_object(body.get("region", "us-east-1"), body["bucket"], body["key"], body["text"])
            return respond(start_response, 200, out)
        if path == "/_ext/seed/image" and method == "POST":
            import code_ext
            import seed

            region = body.get("region", "us-east-1")
            with LOCK:
                out = code_ext.seed_image(region, body["repository"], body.get("tag", "latest"), body["text"],
                                         body.get("account"))
            if body.get("function"):
                seed.image_function(f"http://127.0.0.1:{environ.get('SERVER_PORT')}", region, body["function"],
                                    out["ImageUri"])
                with LOCK:
                    code_ext.created(region, body["function"], out["CodeSha256"])
            return respond(start_response, 200, out)
        if path == "/_ext/seed/vpc" and method == "POST":
            import settings_ext

            port = environ.get("SERVER_PORT")
            return respond(start_response, 200, settings_ext.seed_vpc(f"http://127.0.0.1:{port}", body.get("region", "us-east-1"),
                                                                      int(body.get("subnets", 2))))
        if path == "/_ext/seed/role" and method == "POST":
            return respond(start_response, 200, {"Arn": cloudtrail_ext.seed_role(body["account"], body["name"])})
        if path == "/_ext/seed/events" and method == "POST":
            import seed

            port = environ.get("SERVER_PORT")
            url = seed.events(f"http://127.0.0.1:{port}", body.get("region", "us-east-1"), body["name"],
                              body.get("role_arn"))
            return respond(start_response, 200, {"QueueUrl": url})
        if path == "/_ext/seed/tags" and method == "POST":
            with LOCK:
                configs_ext.seed_tags(body.get("region", "us-east-1"), body["name"], body["tags"])
            return respond(start_response, 200, {})
        if path == "/_ext/seed/layer" and method == "POST":
            import seed

            port = environ.get("SERVER_PORT")
            arn = seed.layer(f"http://127.0.0.1:{port}", body.get("region", "us-east-1"), body["name"])
            return respond(start_response, 200, {"LayerVersionArn": arn})
        with LOCK:
            if path == "/_ext/requests" and method == "GET":
                return respond(start_response, 200, STATE["requests"])
            if path == "/_ext/cloudtrail" and method == "GET":
                return respond(start_response, 200, STATE["cloudtrail"])
            if path == "/_ext/invocations" and method == "GET":
                return respond(start_response, 200, STATE["invocations"])
            if path == "/_ext/requests" and method == "DELETE":
                STATE["requests"].clear()
                return respond(start_response, 204, None)
            if path == "/_ext/config" and method == "POST":
                if "seed" in body:
                    faults.reseed(body.pop("seed"))
                CONFIG.update(body)
                return respond(start_response, 200, CONFIG)
            if path == "/_ext/health":
                return respond(start_response, 200, {"ok": True})
        return respond(start_response, 404, {"message": "unknown admin path"})


def lose_answer(app):
    """Carries a request out and drops its answer (a fault with `after` is answered instead). AWS
    documents that a write's outcome is unknown when its answer does not arrive (DynamoDB Developer
    Guide, Conditional writes: "After you send the request, but before you get the results back, a
    network error occurs, and you don't know whether the request was successful"), and a client
    that times out or gets a 5xx cannot tell that apart from a refusal; a fault drawn before the
    request is handled never shows this case."""
    chunks = app(lambda status, headers, exc_info=None: None)
    for _ in chunks:
        pass
    if hasattr(chunks, "close"):
        chunks.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=None, help="seed of the random faults (default: random)")
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    faults.reseed(args.seed if args.seed is not None else random.SystemRandom().randrange(2**32))
    app = Extension(DomainDispatcherApplication(create_backend_app))
    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    print(f"ready {server.port} seed {CONFIG['seed']}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Checks responses captured from facetwind against openapi.yaml.

usage: validate_responses.py [--require-all-2xx] [--quiet] openapi.yaml DIR

DIR holds one captured response per file (*.json, e.g. 0001.json), written by the integration
tests:
    {"method": "POST", "path": "/v1/subjects/alice/faces/3", "status": 201,
     "content_type": "application/json", "headers": {"x-request-id": "..."},
     "body": <parsed JSON body, or a string for non-JSON>}
path is the concrete path (a query string is stripped); header names are lower case and the
headers object may hold only some headers (without it, headers are not checked).

For each capture: the path is matched to a path template of the spec, the operation found by
method, the response by the exact status (else "default"; a status the operation does not list
is a failure), the content type checked, the body validated (JSON Schema 2020-12, $refs
resolved inside the spec, integers must be JSON integers, format date-time/int32/int64 checked)
and the response headers the spec marks required checked (present ones are validated too;
X-Request-Id must equal the body's request_id). A path that matches no template may only be
answered by components.responses.RouteNotFound (404); a known path with a method it lacks only
by components.responses.MethodNotAllowed (405, whose Allow must list exactly the path's methods).

Prints one line per failure, then "N responses validated, M failures, K operations x status
seen", then the spec's (operation, status) pairs no capture exercised (informational; with
--require-all-2xx an operation whose 2xx response was never seen is a failure). Exit status:
0 all good, 1 any failure (including an empty DIR), 2 usage error or unreadable spec.

Needs only Debian's python3-yaml and python3-jsonschema (4.10 or newer).
"""
import argparse
import json
import os
import re
import sys
import urllib.parse

import jsonschema
import yaml
from jsonschema import Draft202012Validator, FormatChecker, RefResolver

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

RFC3339 = re.compile(
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)"
    r"(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$")


def make_format_checker():
    fc = FormatChecker(formats=())

    @fc.checks("date-time")
    def _date_time(value):
        return not isinstance(value, str) or bool(RFC3339.match(value))

    @fc.checks("int64")
    def _int64(value):
        return not isinstance(value, int) or -(1 << 63) <= value < (1 << 63)

    @fc.checks("int32")
    def _int32(value):
        return not isinstance(value, int) or -(1 << 31) <= value < (1 << 31)

    return fc


# JSON Schema lets 1.0 count as an integer; a C server printing "faces": 3.0 is drift, so an
# integer here must be a JSON integer (Python int, not bool, not float).
_type_checker = Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda checker, x: isinstance(x, int) and not isinstance(x, bool))
StrictValidator = jsonschema.validators.extend(Draft202012Validator, type_checker=_type_checker)


class Spec:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.doc = yaml.safe_load(f)
        if not isinstance(self.doc, dict) or "paths" not in self.doc:
            raise ValueError(f"{path}: not an OpenAPI document (no paths)")
        self.resolver = RefResolver(base_uri="", referrer=self.doc)
        self.format_checker = make_format_checker()
        self.templates = []  # (regex, template, param names)
        for tpl in self.doc["paths"]:
            names = re.findall(r"\{([^}/]+)\}", tpl)
            rx = "^" + "".join(
                f"(?P<p{i}>[^/]+)" if part.startswith("{") else re.escape(part)
                for i, part in enumerate(re.split(r"(\{[^}/]+\})", tpl)) if part) + "$"
            self.templates.append((re.compile(rx), tpl, names))
        # literal paths before templated ones (fewer parameters first)
        self.templates.sort(key=lambda t: (len(t[2]), t[1]))

    def deref(self, obj):
        seen = 0
        while isinstance(obj, dict) and "$ref" in obj:
            _, obj = self.resolver.resolve(obj["$ref"])
            seen += 1
            if seen > 32:
                raise ValueError("$ref loop")
        return obj

    def path_item(self, tpl):
        return self.deref(self.doc["paths"][tpl])

    def match(self, concrete):
        for rx, tpl, names in self.templates:
            m = rx.match(concrete)
            if m:
                vals = [urllib.parse.unquote(v) for v in m.groups()]
                return tpl, dict(zip(names, vals))
        return None, None

    def operations(self):
        for tpl in self.doc["paths"]:
            item = self.path_item(tpl)
            for method in METHODS:
                if method in item:
                    yield tpl, method, self.deref(item[method])

    def component_response(self, name):
        return self.deref({"$ref": f"#/components/responses/{name}"})

    def errors(self, schema, instance):
        v = StrictValidator(schema, resolver=self.resolver, format_checker=self.format_checker)
        return sorted(v.iter_errors(instance), key=lambda e: list(e.absolute_path))


def media_params(ct):
    parts = [p.strip() for p in ct.split(";")]
    base = parts[0].lower()
    params = {}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            params[k.strip().lower()] = v.strip().strip('"')
    return base, params


def find_media(content, ct):
    """The spec media-type key a captured Content-Type satisfies (same type, spec params present)."""
    if not ct:
        return None
    base, params = media_params(ct)
    for key in content:
        kbase, kparams = media_params(key)
        if kbase == base and all(params.get(k, "").lower() == v.lower() for k, v in kparams.items()):
            return key
    return None


def is_json_media(mt):
    base = media_params(mt)[0]
    return base == "application/json" or base.endswith("+json")


def json_path(err):
    p = "$"
    for part in err.absolute_path:
        p += f"[{part}]" if isinstance(part, int) else f".{part}"
    return p


def body_request_id(body):
    if isinstance(body, dict):
        if isinstance(body.get("request_id"), str):
            return body["request_id"]
        e = body.get("error")
        if isinstance(e, dict) and isinstance(e.get("request_id"), str):
            return e["request_id"]
    return None


def check_param(spec, param, raw):
    """Errors of one path-parameter value against its schema (integers parsed first)."""
    schema = spec.deref(param.get("schema", {}))
    value = raw
    if schema.get("type") == "integer":
        if not re.fullmatch(r"-?[0-9]+", raw):
            return [f"path parameter {param['name']}={raw!r} is not an integer"]
        value = int(raw)
    return [f"path parameter {param['name']}={raw!r}: {e.message}"
            for e in spec.errors(param.get("schema", {}), value)]


def validate_capture(spec, cap):
    """Returns (list of failure messages, operation key or None, status)."""
    fails = []
    method = str(cap.get("method", "")).lower()
    path = str(cap.get("path", "")).split("?", 1)[0]
    try:
        status = int(cap.get("status"))
    except (TypeError, ValueError):
        return [f"status {cap.get('status')!r} is not a number"], None, None
    if method not in METHODS or not path.startswith("/"):
        return [f"bad capture: method {cap.get('method')!r} path {cap.get('path')!r}"], None, status

    tpl, params = spec.match(path)
    op_key = None
    op = None
    if tpl is None:
        if status != 404:
            return [f"no path template matches {path} (only 404 RouteNotFound may answer it)"], None, status
        resp = spec.component_response("RouteNotFound")
        op_key = ("*", "unmatched path")
    else:
        item = spec.path_item(tpl)
        if method not in item:
            if status != 405:
                return [f"{tpl} has no {method.upper()} operation (only 405 MethodNotAllowed may answer it)"], None, status
            resp = spec.component_response("MethodNotAllowed")
            op_key = ("*", "method not allowed")
            allow = (cap.get("headers") or {}).get("allow")
            if allow is not None:
                want = sorted(m.upper() for m in METHODS if m in item)
                got = sorted(a.strip().upper() for a in allow.split(",") if a.strip())
                if got != want:
                    fails.append(f"header Allow: {allow!r}, the path has {', '.join(want)}")
        else:
            op = spec.deref(item[method])
            op_key = (method.upper(), tpl)
            responses = op.get("responses", {})
            key = str(status)
            if key not in responses:
                key = f"{status // 100}XX" if f"{status // 100}XX" in responses else "default"
            if key not in responses:
                return [f"status {status} is not in the spec for {method.upper()} {tpl} "
                        f"(has {', '.join(sorted(responses))})"], op_key, status
            resp = spec.deref(responses[key])
            if 200 <= status < 300:
                plist = [spec.deref(p) for p in item.get("parameters", []) + op.get("parameters", [])]
                for p in plist:
                    if p.get("in") == "path" and p["name"] in params:
                        fails += check_param(spec, p, params[p["name"]])

    # content type and body
    content = resp.get("content")
    body = cap.get("body")
    ct = cap.get("content_type") or (cap.get("headers") or {}).get("content-type")
    if not content:
        if body not in (None, ""):
            fails.append(f"the spec has no body for this response but one was sent (Content-Type {ct!r})")
    else:
        mt = find_media(content, ct)
        if mt is None:
            fails.append(f"Content-Type {ct!r} is not one of {', '.join(content)}")
        else:
            media = content[mt]
            if is_json_media(mt) and isinstance(body, str):
                try:
                    body = json.loads(body)
                except ValueError:
                    fails.append("body is not JSON")
                    media = None
            if media is not None and "schema" in media:
                for e in spec.errors(media["schema"], body):
                    fails.append(f"body {json_path(e)}: {e.message}")

    # headers
    headers = cap.get("headers")
    if isinstance(headers, dict):
        headers = {str(k).lower(): v for k, v in headers.items()}
        for name, h in (resp.get("headers") or {}).items():
            h = spec.deref(h)
            lname = name.lower()
            if lname == "content-type":
                continue
            if lname not in headers:
                if h.get("required"):
                    fails.append(f"header {name} missing (required)")
                continue
            if "schema" in h:
                for e in spec.errors(h["schema"], headers[lname]):
                    fails.append(f"header {name}: {e.message}")
        rid = headers.get("x-request-id")
        brid = body_request_id(body)
        if rid is not None and brid is not None and rid != brid:
            fails.append(f"header X-Request-Id {rid!r} != body request_id {brid!r}")
    return fails, op_key, status


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("spec", help="openapi.yaml")
    ap.add_argument("dir", help="directory of captured responses (*.json)")
    ap.add_argument("--require-all-2xx", action="store_true",
                    help="fail for every operation whose 2xx response no capture exercised")
    ap.add_argument("--quiet", action="store_true", help="do not list the pairs nobody exercised")
    a = ap.parse_args(argv)
    try:
        spec = Spec(a.spec)
    except (OSError, ValueError, yaml.YAMLError) as e:
        print(f"validate_responses: {e}", file=sys.stderr)
        return 2
    if not os.path.isdir(a.dir):
        print(f"validate_responses: {a.dir}: not a directory", file=sys.stderr)
        return 2

    files = sorted(f for f in os.listdir(a.dir) if f.endswith(".json"))
    n_fail = 0
    seen = set()
    for fname in files:
        full = os.path.join(a.dir, fname)
        try:
            with open(full, encoding="utf-8") as f:
                cap = json.load(f)
            if not isinstance(cap, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as e:
            print(f"{fname}: unreadable capture: {e}")
            n_fail += 1
            continue
        try:
            res = validate_capture(spec, cap)
        except (jsonschema.exceptions.RefResolutionError, ValueError, KeyError) as e:
            res = ([f"cannot check: {e!r}"], None, None)
        fails, op_key, status = res
        if op_key is not None and isinstance(status, int):
            seen.add((op_key, status))
        where = f"{fname}: {str(cap.get('method', '?')).upper()} {cap.get('path', '?')} {cap.get('status', '?')}"
        for msg in fails:
            print(f"{where}: {msg}")
        n_fail += len(fails)

    pairs = [((m.upper(), tpl), int(s)) for tpl, m, op in spec.operations()
             for s in op.get("responses", {}) if s.isdigit()]
    seen_spec = [p for p in pairs if p in seen]
    missing_2xx = []
    if a.require_all_2xx:
        for tpl, m, op in spec.operations():
            ok = [int(s) for s in op.get("responses", {}) if s.isdigit() and s.startswith("2")]
            if not any(((m.upper(), tpl), s) in seen for s in ok):
                missing_2xx.append(f"{m.upper()} {tpl}")
        for name in missing_2xx:
            print(f"never seen: a 2xx response of {name}")
        n_fail += len(missing_2xx)
    if not files:
        print(f"{a.dir}: no captured responses (*.json)")
        n_fail += 1

    extra = len(seen) - len(seen_spec)
    print(f"{len(files)} responses validated, {n_fail} failures, {len(seen_spec)} operations x status seen"
          f" (of {len(pairs)} in the spec{f'; plus {extra} for unmatched paths/methods' if extra else ''})")
    unseen = [p for p in pairs if p not in seen]
    if unseen and not a.quiet:
        print(f"not exercised ({len(unseen)}):")
        for (m, tpl), s in unseen:
            print(f"  {m} {tpl} {s}")
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Extracts the part of Slack's and PagerDuty's published API references
that the bot's calls must conform to, into api-reference.json (read by
TestAPIReference_* in cmd/incidentbot). Run it on the two public specs:

  slack_web_openapi_v2.json  slackapi/slack-api-specs web-api/
  openapiv3.json             PagerDuty/api-schema reference/REST/

  python3 extract-api-reference.py SLACK_SPEC PAGERDUTY_SPEC SLACK_COMMIT PAGERDUTY_COMMIT > api-reference.json
"""
import json, sys

SLACK_METHODS = [
    "auth.test", "chat.getPermalink", "chat.postMessage", "chat.update",
    "conversations.create", "conversations.history", "conversations.invite",
    "conversations.list", "conversations.rename", "conversations.setTopic",
    "files.info", "pins.add", "usergroups.users.list", "users.info",
    "users.lookupByEmail", "views.open",
]
PAGERDUTY_OPERATIONS = [
    ("get", "/users"), ("get", "/users/{id}"), ("get", "/incidents"), ("put", "/incidents"),
    ("get", "/incidents/{id}"), ("post", "/incidents/{id}/notes"),
    ("post", "/incidents/{id}/responder_requests"), ("get", "/escalation_policies"),
    ("get", "/log_entries"), ("get", "/oncalls"),
]

slack_spec, pd_spec = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))

def slack():
    out = {}
    for m in SLACK_METHODS:
        ops = slack_spec["paths"]["/" + m]
        (verb, op), = ops.items()
        params = {p["name"]: bool(p.get("required")) for p in op.get("parameters", []) if p["name"] != "token"}
        # Some methods list their errors (an enum), others none (null: any).
        err = op["responses"]["default"]["schema"].get("properties", {}).get("error", {})
        out[m] = {"http": verb.upper(), "params": params, "errors": err.get("enum")}
    return out

def deref(obj):
    while isinstance(obj, dict) and "$ref" in obj:
        node = pd_spec
        for part in obj["$ref"].lstrip("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        obj = node
    return obj

def pagerduty():
    out = {}
    for verb, path in PAGERDUTY_OPERATIONS:
        op = pd_spec["paths"][path][verb]
        query, headers = {}, {}
        for p in op.get("parameters", []):
            p = deref(p)
            (query if p["in"] == "query" else headers if p["in"] == "header" else {})[p["name"]] = bool(p.get("required"))
        body = None
        if "requestBody" in op:
            schema = deref(deref(op["requestBody"])["content"]["application/json"]["schema"])
            body = {k: k in schema.get("required", []) for k in schema.get("properties", {})}
        statuses = sorted(s for s in op["responses"] if s[0] in "45")
        out[verb.upper() + " " + path] = {"query": query, "headers": headers, "body": body, "error_statuses": statuses}
    return out

json.dump({
    "sources": {
        "slack": "slackapi/slack-api-specs web-api/slack_web_openapi_v2.json at " + sys.argv[3],
        "pagerduty": "PagerDuty/api-schema reference/REST/openapiv3.json at " + sys.argv[4],
    },
    "slack": slack(), "pagerduty": pagerduty(),
}, sys.stdout, indent=1, sort_keys=True, ensure_ascii=False)
print()

"""
A moto server (same as `moto_server -H 127.0.0.1 -p PORT`) that can also be seeded in bulk through
its stdin, without HTTP: a benchmark clones one add-on's bucket and IAM user, as the controller
made them, into thousands of look-alikes in seconds instead of the minutes moto's HTTP API takes.

Protocol: one JSON object per stdin line, one JSON answer per stdout line.
  {"id": 1, "op": "clone", "account": "...", "region": "us-east-1",
   "template": {"bucket": "...", "user": "..."},
   "items": [{"bucket": "...", "user": "...", "replace": [["old", "new"], ...]}, ...]}
    -> {"id": 1, "ok": true, "keys": [{"accessKeyId": "...", "secretAccessKey": "..."}, ...]}
Every string of the template's tags and policies has the item's replacements applied.

It also pages GetAccountAuthorizationDetails as AWS does (MaxItems users a page, at most 1,000,
with a Marker), where moto answers every user in one page: at 10,000 users that one answer is a
20 MB document, which a controller talking to AWS never receives, so the benchmark would measure
moto's answer rather than the controller's memory.
"""
import copy
import json
import sys

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.s3.models import s3_backends
from moto.iam.models import iam_backends
from moto.iam import responses as iam_responses


def backend(backends, account):
    per_account = backends[account]
    for key in ("aws", "global"):
        try:
            return per_account[key]
        except KeyError:
            continue
    raise KeyError(f"no global backend for account {account}")


def replaced(text, pairs):
    for old, new in pairs:
        text = text.replace(old, new)
    return text


def clone(msg):
    account, region = msg["account"], msg["region"]
    s3 = backend(s3_backends, account)
    iam = backend(iam_backends, account)
    tb = s3.get_bucket(msg["template"]["bucket"])
    t_tags = s3.tagger.get_tag_dict_for_resource(tb.arn)
    tu = iam.get_user(msg["template"]["user"])
    tu_tags = iam.tagger.list_tags_for_resource(tu.arn)["Tags"]
    keys = []
    for item in msg["items"]:
        pairs = item["replace"]
        b = s3.create_bucket(item["bucket"], region)
        b.encryption = copy.deepcopy(tb.encryption)
        b.ownership_rule = copy.deepcopy(tb.ownership_rule)
        b.public_access_block = copy.deepcopy(tb.public_access_block)
        b.rules = copy.deepcopy(tb.rules)
        b.versioning_status = tb.versioning_status
        if tb.policy is not None:
            policy = tb.policy.decode() if isinstance(tb.policy, bytes) else tb.policy
            b.policy = replaced(policy, pairs).encode()
        s3.put_bucket_tagging(item["bucket"], {k: replaced(v, pairs) for k, v in t_tags.items()})
        u = iam.create_user(region, item["user"], tu.path, [{"Key": t["Key"], "Value": replaced(t["Value"], pairs)} for t in tu_tags])
        for name, doc in tu.policies.items():
            u.put_policy(name, replaced(doc, pairs))
        key = iam.create_access_key(item["user"])
        keys.append({"accessKeyId": key.access_key_id, "secretAccessKey": key.secret_access_key})
    return {"keys": keys}


def paged_authorization_details(self):
    details = self.backend.get_account_authorization_details(self._get_param("Filter", []))
    size = max(1, min(int(self._get_param("MaxItems") or 100), 1000))
    start = int(self._get_param("Marker") or 0)
    users = list(details["users"])
    truncated = start + size < len(users)
    result = {
        "UserDetailList": users[start:start + size],
        "GroupDetailList": details["groups"],
        "RoleDetailList": details["roles"],
        "Policies": details["managed_policies"],
        "IsTruncated": truncated,
    }
    if truncated:
        result["Marker"] = str(start + size)
    return iam_responses.ActionResult(result)


iam_responses.IamResponse.get_account_authorization_details = paged_authorization_details


def main():
    port = int(sys.argv[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        try:
            if msg["op"] == "clone":
                answer = {"id": msg["id"], "ok": True, **clone(msg)}
            else:
                answer = {"id": msg["id"], "ok": False, "error": f"unknown op {msg['op']}"}
        except Exception as e:  # report, keep serving
            answer = {"id": msg.get("id"), "ok": False, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(answer), flush=True)
    server.stop()


if __name__ == "__main__":
    main()

"""Scenario: undo never overwrites a newer change. It refuses, shows the diff, and only --force overrides.

1. In member-a, a developer puts the inline policy pipeline-access (`*` on `*`) on the user etl-runner.
   Snapback deletes it and keeps its document in the audit record for undo.
2. The data team that owns etl-runner then fixes it themselves. They put a scoped pipeline-access
   (read one bucket) under the same name, by hand, not through Snapback.
3. The developer asks for their grant back, and on-call runs `snapback undo`. Undo re-reads the policy,
   compares it with the audit record's `after`, and refuses with a readable diff: restoring the
   before state would overwrite the owner's newer policy with `*` on `*`. The scenario reads the
   policy back through moto to check that the data team's document is intact.
4. `snapback undo --force` is the explicit override. It restores the before state and is recorded as
   mode "undo (forced)" with the differences it overrode.

The scenario fails if the first undo did not refuse or if the owner's policy was overwritten.
"""

from __future__ import annotations

import json
from typing import Any

from snapback.outcomes import Outcome
from snapback_ops.cli import run_undo
from snapback_ops.demo import LocalOrg, Timeline, cloudtrail_record, deliver, emit, runtime_for

ORDER = 96
NAME = "iam_admin_policy_revert"
USER = "etl-runner"
POLICY = "pipeline-access"


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


FULL_ACCESS = _doc({"Effect": "Allow", "Action": "*", "Resource": "*"})
OWNER_SCOPED = _doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::acme-etl-input/*"})


def run(org: LocalOrg, timeline: Timeline) -> dict[str, Any]:
    """Remediate, let the owner change the resource again, then undo: refused on drift, forced on request."""
    account = org.members["member-a"]
    iam = org.session(account).client("iam")
    iam.create_user(UserName=USER)

    def read_back() -> Any:
        try:
            return iam.get_user_policy(UserName=USER, PolicyName=POLICY)["PolicyDocument"]
        except iam.exceptions.NoSuchEntityException:
            return None

    # 1. remediated
    iam.put_user_policy(UserName=USER, PolicyName=POLICY, PolicyDocument=json.dumps(FULL_ACCESS))
    timeline.add("attack", f"member-a ({account}): a developer puts inline policy {POLICY} (* on *) on user {USER}")
    request = {"userName": USER, "policyName": POLICY, "policyDocument": json.dumps(FULL_ACCESS)}
    emit(org.session(account), cloudtrail_record(account, "iam.amazonaws.com", "PutUserPolicy", request))
    timeline.add("event", "CloudTrail PutUserPolicy -> member default bus")
    (remediated,) = deliver(org, account, timeline, expect=1, only=NAME)
    audit_id = remediated.audit_id or ""

    # 2. the owner changes the resource again, by hand
    iam.put_user_policy(UserName=USER, PolicyName=POLICY, PolicyDocument=json.dumps(OWNER_SCOPED))
    timeline.add("change", f"member-a: the data team puts their own {POLICY} on {USER}: s3:GetObject on acme-etl-input/* only")

    # 3. undo is asked: refused, with the diff
    runtime = runtime_for(org, NAME)
    timeline.add("undo", f"the developer wants their grant back; on-call runs `snapback undo {audit_id}`")
    refused = run_undo(runtime, audit_id)
    timeline.add("outcome", f"{refused['outcome']}: {refused.get('reason', '')} (audit {refused.get('undo_audit_id')})")
    drift = list(refused.get("drift") or [])
    for line in drift:
        timeline.add("drift", line)
    kept = read_back()
    owner_intact = kept == OWNER_SCOPED
    refusal = runtime.audit.get(refused.get("undo_audit_id") or "") or {}
    not_undone = not (runtime.audit.get(audit_id) or {}).get("undone_by")
    timeline.add(
        "verify",
        f"{POLICY} on {USER} read back as member-a: the data team's policy intact ({owner_intact}); "
        f"refusal recorded as {refusal.get('outcome')} mode {refusal.get('mode')!r}; {audit_id} not undone ({not_undone})",
    )

    # 4. the explicit override
    timeline.add("undo", f"after reading the diff, on-call overrides: `snapback undo {audit_id} --force`")
    forced = run_undo(runtime, audit_id, force=True)
    timeline.add("outcome", f"{forced['outcome']}: {', '.join(forced.get('actions', []))} (audit {forced.get('undo_audit_id')})")
    forced_record = runtime.audit.get(forced.get("undo_audit_id") or "") or {}
    restored = read_back() == FULL_ACCESS
    timeline.add(
        "verify",
        f"{POLICY} read back: the before state (* on *) restored ({restored}), "
        f"recorded as mode {forced_record.get('mode')!r} over {len(forced.get('drift') or [])} difference(s)",
    )

    passed = (
        remediated.outcome is Outcome.REMEDIATED
        and refused["outcome"] == "REFUSED"
        and bool(drift)
        and owner_intact
        and not_undone
        and refusal.get("outcome") == Outcome.SKIPPED.value
        and forced["outcome"] == "UNDONE"
        and forced_record.get("mode") == "undo (forced)"
        and restored
    )
    return {
        "name": "undo refused after drift, then forced",
        "account": account,
        "passed": passed,
        "outcomes": [remediated.outcome.value, refused["outcome"], forced["outcome"]],
        "drift": drift,
        "owner_change_intact": owner_intact,
    }

"""Scenario: changes whose CloudTrail events never arrived, found by the reconciliation sweep.

CloudTrail delivers events on a best-effort basis. In member-b, rotation is off on a new data key and
RDP is open to the world, and no event is emitted for either. The scheduled sweep walks the account
through the remediator role, finds both, and acts through the same decision path as an event:
REMEDIATED with audit, SNS and a Security Hub finding. A second sweep the same day does nothing twice.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from snapback.clients import Clients
from snapback.member_role import SWEEP_ROLE
from snapback.outcomes import Outcome
from snapback.runtime import OrganizationsDirectory, Runtime
from snapback.sweep import Sweeper
from snapback_ops.demo import ORG_READER_ROLE, REGION, TABLE, TOPIC, LocalOrg, Timeline, _show, session_in

ORDER = 97
WORLD = "0.0.0.0/0"


def sweep_runtime(org: LocalOrg, timeline: Timeline) -> Runtime:
    """The sweep function's runtime (role snapback-fn-sweep); paced faster than the deployed default."""
    clients = Clients(region=REGION, member_role_name=org.config.member_role_name, session=session_in(org.security, SWEEP_ROLE))
    return Runtime(
        config=dataclasses.replace(org.config, sweep=dataclasses.replace(org.config.sweep, max_calls_per_second=200.0)),
        clients=clients,
        table=TABLE,
        topic_arn=f"arn:aws:sns:{REGION}:{org.security}:{TOPIC}",
        org=OrganizationsDirectory(clients, f"arn:aws:iam::{org.management}:role/{ORG_READER_ROLE}"),
        observers=[lambda result: _show(timeline, result)],
    )


def run(org: LocalOrg, timeline: Timeline) -> dict[str, Any]:
    account = org.members["member-b"]
    member = org.session(account)
    kms, ec2 = member.client("kms"), member.client("ec2")
    key_id = kms.create_key(Description="acme ledger data (rotation never turned on)")["KeyMetadata"]["KeyId"]
    group = ec2.create_security_group(GroupName="jump-host", Description="jump host")["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": WORLD}]}]
    )
    timeline.add("attack", f"member-b ({account}): key {key_id} without rotation, RDP open to the world on {group}")
    timeline.add("event", "no CloudTrail event reaches Snapback (best-effort delivery): nothing is routed")

    runtime = sweep_runtime(org, timeline)
    timeline.add("sweep", f"scheduled rule snapback-sweep -> function {SWEEP_ROLE}: member-b, every invariant")
    first = Sweeper(runtime, accounts=[account], progress=lambda line: timeline.add("sweep", line)).run()
    again = Sweeper(runtime, accounts=[account]).run()
    timeline.add(
        "sweep",
        f"second sweep the same day: {again.violations} violation(s), outcomes {dict(again.outcomes)} (nothing done twice)",
    )

    rotating = kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]
    (sg,) = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    rdp_open = any(
        r.get("FromPort") == 3389 and any(c["CidrIp"] == WORLD for c in r.get("IpRanges", [])) for r in sg["IpPermissions"]
    )
    timeline.add("verify", f"read back as member-b: rotation of {key_id} enabled={rotating}; RDP open to the world={rdp_open}")
    fixed = {f["resource"]: f["outcome"] for f in first.found}
    ours = {r: o for r, o in fixed.items() if key_id in r or group in r}
    return {
        "name": "missed_event",
        "account": account,
        "outcomes": ours,
        "sweep": {k: v for k, v in first.as_dict().items() if k not in ("found", "error_details")},
        "passed": rotating is True
        and not rdp_open
        and sorted(ours.values()) == [Outcome.REMEDIATED.value] * 2
        and not first.errors
        and Outcome.REMEDIATED.value not in again.outcomes,
        "results": first.found,
    }

"""Scenario: an intruder blinds AWS Config in member-b: stops the recorder, deletes its channel, narrows it.

Shows the last known good being recorded when the recorder is started, the channel recreated and
recording restarted from it (REMEDIATED, the second event of the pair finding nothing left to do),
the narrowed recording group reverted, and Snapback's own StopConfigurationRecorder never routed.
"""

from __future__ import annotations

from typing import Any

from snapback.outcomes import Outcome
from snapback_ops.demo import LocalOrg, Timeline, cloudtrail_record, deliver, emit

ORDER = 40
SOURCE = "config.amazonaws.com"
ALL = {"allSupported": True, "includeGlobalResourceTypes": True}


def run(org: LocalOrg, timeline: Timeline) -> dict[str, Any]:
    """Config tampering in member-b: a baseline, then stop + channel deletion, then a narrowing."""
    account = org.members["member-b"]
    member = org.session(account)
    config = member.client("config")
    bucket = f"acme-config-{account}"
    member.client("s3").create_bucket(Bucket=bucket)
    role = f"arn:aws:iam::{account}:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig"
    recorder = {"name": "default", "roleARN": role, "recordingGroup": ALL}
    config.put_configuration_recorder(ConfigurationRecorder=recorder)
    config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": bucket, "s3KeyPrefix": "config"})
    config.start_configuration_recorder(ConfigurationRecorderName="default")
    emit(
        member,
        cloudtrail_record(
            account, SOURCE, "StartConfigurationRecorder", {"configurationRecorderName": "default"}, actor="platform"
        ),
    )
    timeline.add("setup", f"member-b ({account}): Config recorder 'default' records all types to s3://{bucket}; started")
    results = deliver(org, account, timeline, expect=1)

    config.stop_configuration_recorder(ConfigurationRecorderName="default")
    config.delete_delivery_channel(DeliveryChannelName="default")
    emit(member, cloudtrail_record(account, SOURCE, "StopConfigurationRecorder", {"configurationRecorderName": "default"}))
    emit(member, cloudtrail_record(account, SOURCE, "DeleteDeliveryChannel", {"deliveryChannelName": "default"}))
    timeline.add("attack", "member-b: StopConfigurationRecorder, then DeleteDeliveryChannel -> member default bus")
    emit(
        member,
        cloudtrail_record(
            account, SOURCE, "StopConfigurationRecorder", {"configurationRecorderName": "default"}, actor="snapback-remediator"
        ),
    )
    timeline.add("event", "CloudTrail StopConfigurationRecorder by snapback-remediator (an undo; a loop) -> member default bus")
    results += deliver(org, account, timeline, expect=2)

    narrow = {**recorder, "recordingGroup": {"allSupported": False, "resourceTypes": ["AWS::S3::Bucket"]}}
    config.put_configuration_recorder(ConfigurationRecorder=narrow)
    emit(member, cloudtrail_record(account, SOURCE, "PutConfigurationRecorder", {"configurationRecorder": narrow}))
    timeline.add("attack", "member-b: PutConfigurationRecorder now records only AWS::S3::Bucket -> member default bus")
    results += deliver(org, account, timeline, expect=1)

    (status,) = config.describe_configuration_recorder_status()["ConfigurationRecordersStatus"]
    (now,) = config.describe_configuration_recorders()["ConfigurationRecorders"]
    channels = [c["s3BucketName"] for c in config.describe_delivery_channels()["DeliveryChannels"]]
    timeline.add(
        "verify",
        f"read back as member-b: recording={status['recording']} allSupported={now['recordingGroup']['allSupported']} channel={channels}",
    )
    outcomes = [f"{r.target.facts.get('event_name') if r.target else '-'}: {r.outcome.value}" for r in results]
    return {
        "name": "config_tampering",
        "account": account,
        "outcomes": outcomes,
        "passed": [r.outcome for r in results]
        == [Outcome.ALREADY_COMPLIANT, Outcome.REMEDIATED, Outcome.ALREADY_COMPLIANT, Outcome.REMEDIATED]
        and status["recording"] is True
        and now["recordingGroup"]["allSupported"] is True
        and channels == [bucket],
        "results": [r.as_dict() for r in results],
    }

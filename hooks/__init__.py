"""CodeDeploy's lifecycle hooks on the alias's canary: a version proves itself before and after traffic reaches it.

Each hook is a small Lambda function of its own, with its own asset (`infra/hook_assets.py`
says what each carries) and role; neither ships the service. CodeDeploy invokes them when
the alias moves to a new version; each reports `Succeeded` or `Failed` back with
PutLifecycleEventHookExecutionStatus, and a failure rolls the alias back.

- `lifecycle.py`: what both share: the event, the deadline, the one status report;
- `pre_traffic.py` (`BeforeAllowTraffic`): invokes the new version directly with payload 2.0
  events, as the gateway would send them, before any traffic reaches it;
- `post_traffic.py` (`AfterAllowTraffic`): the smoke script (`smoke/`) through the stage's real
  gateway URL, after the shift.
"""

"""Retention that follows lineage: deleting and restoring runs, ``lockgate gc`` (what
nothing live references goes; every kept thing says why) and ``lockgate du``."""

from lockgate.retention.disk_usage import DiskUsage, Usage, disk_usage
from lockgate.retention.garbage_collection import Decision, GcReport, collect_garbage
from lockgate.retention.policy import Policies, RetentionPolicy, load_policies
from lockgate.retention.protection import ModelRef, Protection, protection
from lockgate.retention.run_deletion import (
    RunDeletionError,
    delete_runs,
    deleted_runs,
    restore_runs,
)

__all__ = [
    "Decision",
    "DiskUsage",
    "GcReport",
    "ModelRef",
    "Policies",
    "Protection",
    "RetentionPolicy",
    "RunDeletionError",
    "Usage",
    "collect_garbage",
    "delete_runs",
    "deleted_runs",
    "disk_usage",
    "load_policies",
    "protection",
    "restore_runs",
]

"""Events: small immutable facts, named in the past tense.

The event log is the single source of truth; every table beside it is a fold over it. An
event carries what a reader needs to explain what happened (the reason, the numbers) and
never a secret. Times come from the caller's clock, so folding stays pure and replayable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _to_milliseconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


# A time an event carries in its payload (not its `at`), held at the precision the tables
# store: folded live or replayed from the log, the rows then agree, and `ame state check`
# finds no difference where there is none (logs written before kept microseconds).
Moment = Annotated[datetime, AfterValidator(_to_milliseconds)]


class _Event(BaseModel):
    # Validators are built at an event type's first use, not at import: a run uses a few
    # of the 23 types, and building them all cost ~0.2 s of every command's start. A NaN
    # or an infinity goes into the log's JSON as NaN or Infinity: as null it would not
    # read back into a float field.
    model_config = ConfigDict(
        frozen=True, extra="forbid", defer_build=True, ser_json_inf_nan="constants"
    )

    at: datetime
    project: str
    dataset: str | None = None


class DatasetDeclared(_Event):
    """The spec declares this data set, or declares it differently than before."""

    type: Literal["dataset_declared"] = "dataset_declared"
    dataset: str
    spec_hash: str
    path: str
    task: str
    declared_size_bytes: int | None = None
    # The data sets of this project its producing task needs, by name: the graph's edges.
    inputs: tuple[str, ...] = ()


class RunStarted(_Event):
    """A producing task was started; `version` is the version it will store, the one after
    the last version stored (a failed attempt stores nothing, so it takes no number).
    `inputs`: the version of each input placed in its working copy, in use until the run
    ends. `code_digest`: the project files the task could see (amed.act.code_digest)."""

    type: Literal["run_started"] = "run_started"
    dataset: str
    run_id: str
    version: int
    spec_hash: str
    task: str
    attempt: int
    inputs: dict[str, int] = {}
    code_digest: str | None = None


class RunSucceeded(_Event):
    """The producing task exited 0; its output is about to be uploaded."""

    type: Literal["run_succeeded"] = "run_succeeded"
    dataset: str
    run_id: str
    seconds: float


class RunFailed(_Event):
    """A run ended without a stored version: the task failed, or storing its output did."""

    type: Literal["run_failed"] = "run_failed"
    dataset: str
    run_id: str
    stage: Literal["task", "store", "space", "lost"]
    reason: str
    exit_code: int | None = None
    output_tail: str | None = None
    retry_at: Moment | None = None


class VersionStored(_Event):
    """A version's files and manifest are in the store; from now on it is the current one.

    Its identity, besides `spec_hash`: `code_digest`, the project files its task could see,
    and `inputs`, the content digest of each input version it was made from. Its own
    `content_digest` (of its files' paths, sizes and sha256s, not of when or as which
    version they were stored) goes into the identity of its dependants, so that the same
    bytes stored again change nothing downstream. None in versions stored before amed
    recorded identities."""

    type: Literal["version_stored"] = "version_stored"
    dataset: str
    run_id: str
    version: int
    spec_hash: str
    size_bytes: int
    files: int
    seconds: float
    content_digest: str | None = None
    code_digest: str | None = None
    inputs: dict[str, str] = {}


class VersionDeleted(_Event):
    """A version's objects were deleted from the store."""

    type: Literal["version_deleted"] = "version_deleted"
    dataset: str
    version: int
    reason: str
    objects: int


class DatasetRemoved(_Event):
    """The data set is no longer declared. Its versions stop being served at once; their
    objects are deleted next (each deletion is a `version_deleted`)."""

    type: Literal["dataset_removed"] = "dataset_removed"
    dataset: str
    reason: str


class DatasetUndeclared(_Event):
    """The data set is no longer in a valid ame.yaml. Nothing is deleted yet: it is
    `deleting` until `delete_after`, and comes back as it was if declared again before."""

    type: Literal["dataset_undeclared"] = "dataset_undeclared"
    dataset: str
    delete_after: Moment


class DeletionApproved(_Event):
    """A person asked for an undeclared data set to be deleted now (`ame ds delete`)."""

    type: Literal["deletion_approved"] = "deletion_approved"
    dataset: str


class DatasetEvicted(_Event):
    """The data set's ready version was given up to free space; its objects are deleted
    next. It is produced again when something needs it."""

    type: Literal["dataset_evicted"] = "dataset_evicted"
    dataset: str
    version: int
    reason: str
    bytes_freed: int


class DatasetBlocked(_Event):
    """The data set's declared size does not fit, even after evicting everything that may be
    evicted; nothing was evicted for it."""

    type: Literal["dataset_blocked"] = "dataset_blocked"
    dataset: str
    reason: str
    needed_bytes: int
    free_bytes: int
    reclaimable_bytes: int
    capacity_bytes: int | None = None


class DatasetRequested(_Event):
    """Someone asked for this data set (`ame ds pull` of an evicted one): produce it even
    though no backoff or eviction would otherwise let it be produced now."""

    type: Literal["dataset_requested"] = "dataset_requested"
    dataset: str
    reason: str


class RebuildRequested(_Event):
    """Someone asked for a new version of this data set (`ame ds rebuild`), whatever its
    identity says: the next run that starts answers it."""

    type: Literal["rebuild_requested"] = "rebuild_requested"
    dataset: str
    reason: str = "manual"


class InputFailed(_Event):
    """The data set was due but was not produced: an input it needs failed or is blocked
    (`reason` says which and why). Not an attempt of its own: it is produced once its
    inputs are ready."""

    type: Literal["input_failed"] = "input_failed"
    dataset: str
    input: str
    reason: str


class DatasetPulled(_Event):
    """A ready version was downloaded out of the store: it counts as a use."""

    type: Literal["dataset_pulled"] = "dataset_pulled"
    dataset: str
    version: int


class TaskDeclared(_Event):
    """The spec declares this task (new, or with another schedule)."""

    type: Literal["task_declared"] = "task_declared"
    task: str
    schedule: str | None = None
    data_sets: tuple[str, ...] = ()


class TaskRequested(_Event):
    """A run of the task was asked for: by a person (`ame task run`) or by its schedule."""

    type: Literal["task_requested"] = "task_requested"
    task: str
    request_id: str
    reason: Literal["manual", "schedule"]
    scheduled_for: Moment | None = None


class TaskStarted(_Event):
    """The task started with these data set versions placed in its working copy; they are
    in use until it finishes."""

    type: Literal["task_started"] = "task_started"
    task: str
    request_id: str
    run_id: str
    inputs: dict[str, int]


class TaskFinished(_Event):
    """The task's run is over: it succeeded, failed, or never started because a data set it
    needs failed (`run_id` None then)."""

    type: Literal["task_finished"] = "task_finished"
    task: str
    request_id: str
    ok: bool
    run_id: str | None = None
    reason: str | None = None
    exit_code: int | None = None
    seconds: float | None = None
    output_tail: str | None = None
    inputs: dict[str, int] = {}


Severity = Literal["critical", "warning", "info"]


class AlertRaised(_Event):
    """A condition worth telling people about holds (again). Delivery follows."""

    type: Literal["alert_raised"] = "alert_raised"
    key: str
    severity: Severity
    title: str
    body: str
    resolvable: bool = True


class AlertCleared(_Event):
    """A raised condition no longer holds; a resolved notice follows."""

    type: Literal["alert_cleared"] = "alert_cleared"
    key: str


class AlertDelivered(_Event):
    """An alert (or its resolved notice) reached these channels (redacted URLs); none when
    no channel is configured and the alert was only logged."""

    type: Literal["alert_delivered"] = "alert_delivered"
    key: str
    notice: Literal["alert", "resolved"]
    channels: tuple[str, ...]


class AlertDeliveryFailed(_Event):
    """A channel did not take an alert; it is tried again on a later pass."""

    type: Literal["alert_delivery_failed"] = "alert_delivery_failed"
    key: str
    notice: Literal["alert", "resolved"]
    channel: str
    error: str
    # After how many refusals in a row the channel counts as unhealthy: the alert policy's
    # threshold when this refusal was recorded (amed.plan.alerts), so the fold applies a
    # recorded fact, not a policy of its own. 3 in logs from before it was recorded, the
    # fixed rule then.
    unhealthy_after: int = 3


Event = Annotated[
    DatasetDeclared
    | RunStarted
    | RunSucceeded
    | RunFailed
    | VersionStored
    | VersionDeleted
    | DatasetRemoved
    | DatasetEvicted
    | DatasetBlocked
    | DatasetUndeclared
    | DeletionApproved
    | AlertRaised
    | AlertCleared
    | AlertDelivered
    | AlertDeliveryFailed
    | DatasetRequested
    | DatasetPulled
    | TaskDeclared
    | TaskRequested
    | TaskStarted
    | TaskFinished
    | RebuildRequested
    | InputFailed,
    Field(discriminator="type"),
]

AlertEvent = AlertRaised | AlertCleared | AlertDelivered | AlertDeliveryFailed
ALERT_EVENTS = (AlertRaised, AlertCleared, AlertDelivered, AlertDeliveryFailed)
TASK_EVENTS = (TaskDeclared, TaskRequested, TaskStarted, TaskFinished)
